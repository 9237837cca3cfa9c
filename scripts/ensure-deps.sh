# Sourced by run.sh, test.sh and bench.sh: installs what the local stack needs when it is missing
# (npm packages: Azurite, the local Cosmos server, the dashboard's chart library; Debian: ffmpeg, chromium).
# Idempotent and quiet when everything is already there.

# A symlinked node_modules (a git worktree sharing another checkout's) is left alone: npm ci would
# follow the link and wipe the other checkout's install.
if [ ! -L node_modules ] && { [ ! -x node_modules/.bin/azurite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  echo "Installing Azurite and the local Cosmos server (npm ci)..."
  npm ci --no-audit --no-fund --loglevel=error
fi

if ! command -v ffmpeg >/dev/null 2>&1; then
  echo "Installing ffmpeg (Debian package)..."
  if [ "$(id -u)" -eq 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null) ||
      echo "warning: could not install ffmpeg; video conversion will report itself unavailable" >&2
  else
    echo "warning: ffmpeg is missing and this user cannot apt-get install it; video conversion will report itself unavailable" >&2
  fi
fi

# The browser tests drive Debian's Chromium with Playwright (no browser download; CHROMIUM_PATH overrides the path).
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  echo "Installing chromium (Debian package, for the dashboard's browser tests)..."
  if [ "$(id -u)" -eq 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ||
      echo "warning: could not install chromium; the browser tests will fail saying so" >&2
  else
    echo "warning: chromium is missing and this user cannot apt-get install it; the browser tests will fail saying so" >&2
  fi
fi

dotnet restore Serverless.sln --nologo -v quiet
