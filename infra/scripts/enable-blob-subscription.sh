#!/usr/bin/env sh
# postdeploy hook: after the first deploy, turn on the Event Grid BlobCreated subscription
# (infra/app/eventgrid.bicep) and provision again. Later deploys find it on and do nothing.
set -eu
current="$(azd env get-value CREATE_BLOB_SUBSCRIPTION 2>/dev/null || true)"
if [ "$current" = "true" ]; then
  echo "BlobCreated subscription already enabled."
  exit 0
fi
azd env set CREATE_BLOB_SUBSCRIPTION true
azd provision --no-prompt
