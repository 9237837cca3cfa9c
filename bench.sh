#!/usr/bin/env bash
# Runs one benchmark suite in Release on the local stack: ./bench.sh NAME (e.g. storage).
# Ends with one line of JSON holding the suite's figures.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-deps.sh
dotnet build bench/Serverless.Bench -c Release --nologo -v quiet >/dev/null
exec dotnet bench/Serverless.Bench/bin/Release/net10.0/Serverless.Bench.dll "$@"
