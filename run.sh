#!/usr/bin/env bash
# Runs the platform locally: Azurite (Blob + Queue) on free loopback ports with its data under
# .data/azurite, the document store in the SQLite file .data/platform.db, and the functions app
# standalone (it polls the queues and watches the upload containers itself).
# Usage: ./run.sh [--urls http://127.0.0.1:PORT]   (default http://127.0.0.1:7071). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-deps.sh

# A port nobody listens on (bash's /dev/tcp refuses the connection).
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: no free port found" >&2
  return 1
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$azurite_pid" 2>/dev/null; then
      echo "error: $name exited; see .data/azurite/azurite.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "error: $name did not open port $port within 30 s" >&2
  return 1
}

blob_port="$(free_port)"
queue_port="$(free_port)"
table_port="$(free_port)"
mkdir -p .data/azurite

node_modules/.bin/azurite --silent --skipApiVersionCheck --loose --location .data/azurite \
  --blobHost 127.0.0.1 --blobPort "$blob_port" \
  --queueHost 127.0.0.1 --queuePort "$queue_port" \
  --tableHost 127.0.0.1 --tablePort "$table_port" >.data/azurite/azurite.log 2>&1 &
azurite_pid=$!

app_pid=""
stop_all() {
  # Started with '&', these ignore the terminal's Ctrl-C: stop them explicitly, app first.
  # Azurite closes its services on TERM but its process can linger: KILL it after 10 s.
  local pid
  for pid in $app_pid $azurite_pid; do
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for_port "$blob_port" "Azurite (blob)"
wait_for_port "$queue_port" "Azurite (queue)"

# Azurite's fixed development account and key (public, documented; never used outside Azurite).
account_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export DocumentStore__Provider=Sqlite
export DocumentStore__SqlitePath="$(pwd)/.data/platform.db"
export Storage__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$account_key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue_port/devstoreaccount1"
unset FUNCTIONS_CUSTOMHANDLER_PORT

urls="${ASPNETCORE_URLS:-http://127.0.0.1:7071}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --urls) urls="${args[$((i + 1))]:-$urls}" ;;
    --urls=*) urls="${args[$i]#--urls=}" ;;
  esac
done

echo "Azurite: blob http://127.0.0.1:$blob_port, queue http://127.0.0.1:$queue_port (data in .data/azurite)"
echo "Document store: SQLite at .data/platform.db"
echo "Platform: $urls   (health: $urls/api/health)"
echo "Authentication: on first start the platform creates an admin and logs its API key once (look for \"First start\");"
echo "  send it as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'. Set Bootstrap__AdminApiKey to choose it yourself."
echo "Press Ctrl-C to stop."
echo

dotnet build functions/Serverless.Functions/Serverless.Functions.csproj --nologo -v quiet -c Release
# In the background, so that Ctrl-C and TERM reach this script's traps at once (wait is interruptible).
app_dir="$(pwd)/functions/Serverless.Functions/bin/Release/net10.0"
# The gen0 budget the deployment sets (infra/app/function.bicep); the runtime reads it only from the environment.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x8000000}"
dotnet "$app_dir/Serverless.Functions.dll" --urls "$urls" --contentRoot "$app_dir" &
app_pid=$!
wait "$app_pid"
