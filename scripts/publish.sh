#!/usr/bin/env bash
# Publishes the functions app as an Azure Functions custom-handler package:
#   <out>/host.json, <out>/<Function>/function.json for every function, and the executable host.json
#   names (self-contained for linux-x64: the runtime packs restore from our feed, so the package
#   does not depend on the .NET version installed on the Functions worker).
# Usage: scripts/publish.sh [output-dir]   (default: artifacts/functionapp)
# PUBLISH_CONFIGURATION=Debug reuses a Debug build (the package-layout test does); default Release.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/artifacts/functionapp}"
project="$root/functions/Serverless.Functions/Serverless.Functions.csproj"
functions="$root/functions/Serverless.Functions/Functions"

exe="$(sed -n 's/.*"defaultExecutablePath"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$root/host.json")"
if [ -z "$exe" ]; then
  echo "error: host.json names no customHandler.description.defaultExecutablePath" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out"
dotnet publish "$project" --nologo -v quiet -c "${PUBLISH_CONFIGURATION:-Release}" -r linux-x64 --self-contained true -o "$out"

cp "$root/host.json" "$out/host.json"
count=0
for dir in "$functions"/*/; do
  name="$(basename "$dir")"
  if [ -f "$dir/function.json" ]; then
    mkdir -p "$out/$name"
    cp "$dir/function.json" "$out/$name/function.json"
    count=$((count + 1))
  fi
done

if [ ! -x "$out/$exe" ]; then
  echo "error: the package has no executable '$exe' (named by host.json) in $out" >&2
  exit 1
fi
# The Functions host starts the executable directly: keep its execute bit when zipping (zip on Linux).
echo "Published $count functions and '$exe' (self-contained linux-x64) to $out"
