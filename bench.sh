#!/usr/bin/env bash
# Runs one benchmark suite in Release on the local stack: ./bench.sh NAME (e.g. storage).
# Ends with one line of JSON holding the suite's figures.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-deps.sh
dotnet build bench/Serverless.Bench -c Release --nologo -v quiet >/dev/null
# The suites host the functions app in this process: give it the gen0 budget the deployment sets
# (infra/app/function.bicep; the runtime reads it only from the environment).
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x8000000}"
exec dotnet bench/Serverless.Bench/bin/Release/net10.0/Serverless.Bench.dll "$@"
