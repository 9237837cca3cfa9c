#!/usr/bin/env bash
# Runs every test of the platform. Installs what is missing first (npm packages for Azurite and the
# local Cosmos server, Debian's ffmpeg), so it works on a fresh machine. Ends with one line of totals.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-deps.sh

results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

dotnet build Serverless.sln --nologo -v quiet

# One run per test project, each writing its own results file (a shared run names files by timestamp,
# and two projects finishing in the same second would overwrite each other's).
status=0
for project in tests/*.Tests/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" --no-build --nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results" "$@" || status=$?
done

# Totals come from the test results themselves, so a run that executed nothing shows 0 passed.
read -r passed failed skipped < <(
  cat "$results"/*.trx 2>/dev/null | grep -o '<Counters [^>]*>' | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); gsub(/"/, "", kv[2]); c[kv[1]] += kv[2] } }
    END { printf "%d %d %d\n", c["passed"], c["failed"] + c["error"] + c["timeout"] + c["aborted"], c["notExecuted"] + c["inconclusive"] }')
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then status=1; fi
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
exit "$status"
