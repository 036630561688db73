#!/usr/bin/env bash
# Start the Microsoft 365 Agents Playground (a Teams-like web client) against the local bot.
#
#   scripts/playground.sh              install into scratch/playground if missing, then start
#   scripts/playground.sh --install    install only (also installs playwright-core for play-scenario)
#
# The Playground (@microsoft/m365agentsplayground, proprietary pre-release licence) is a dev tool:
# it is installed into the git-ignored scratch/playground, never into the repo's package.json.
# It runs from that directory (it writes devTools/ there), reads ../../.m365agentsplayground.yml,
# serves http://127.0.0.1:56150 and posts to the bot at http://127.0.0.1:${PORT:-3978}/api/messages.
# scripts/playground-loopback.cjs keeps every socket it opens on 127.0.0.1.
set -euo pipefail

PLAYGROUND_VERSION=0.2.28
PLAYWRIGHT_VERSION=1.65.1
UI_PORT=56150

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scratch="$repo/scratch/playground"
cli="$scratch/node_modules/@microsoft/m365agentsplayground/cli.js"

install() {
  mkdir -p "$scratch"
  # A package.json of its own, so npm installs here and never touches the repo's package.json.
  if [[ ! -f "$scratch/package.json" ]]; then
    printf '{\n  "name": "crossdesk-playground-scratch",\n  "private": true\n}\n' >"$scratch/package.json"
  fi
  local installed=""
  if [[ -f "$scratch/node_modules/@microsoft/m365agentsplayground/package.json" ]]; then
    installed="$(node -p "require('$scratch/node_modules/@microsoft/m365agentsplayground/package.json').version")"
  fi
  if [[ "$installed" != "$PLAYGROUND_VERSION" || ! -d "$scratch/node_modules/playwright-core" ]]; then
    echo "Installing @microsoft/m365agentsplayground@$PLAYGROUND_VERSION and playwright-core@$PLAYWRIGHT_VERSION into $scratch"
    (cd "$scratch" && npm install --save-exact --no-audit --no-fund \
      "@microsoft/m365agentsplayground@$PLAYGROUND_VERSION" "playwright-core@$PLAYWRIGHT_VERSION")
  fi
}

install
if [[ "${1:-}" == "--install" ]]; then
  exit 0
fi

bot_port="${PORT:-3978}"
if ! curl -fsS -o /dev/null "http://127.0.0.1:$bot_port/healthz" 2>/dev/null; then
  echo "warning: no bot answers on http://127.0.0.1:$bot_port/healthz yet; start it with" >&2
  echo "  PORT=$bot_port .venv/bin/crossdesk run" >&2
fi

# The Playground looks for .m365agentsplayground.yml in its working directory unless told.
export M365_AGENTS_PLAYGROUND_CONFIG_PATH="${M365_AGENTS_PLAYGROUND_CONFIG_PATH:-$repo/.m365agentsplayground.yml}"
export TEAMSAPPTESTER_BROWSER=none

echo "Playground: http://127.0.0.1:$UI_PORT  (bot: http://127.0.0.1:$bot_port/api/messages, Ctrl-C stops)"
cd "$scratch"
exec node --require "$repo/scripts/playground-loopback.cjs" "$cli" \
  -e "http://127.0.0.1:$bot_port/api/messages" -c msteams -p "$UI_PORT" \
  --service-url "http://127.0.0.1:$UI_PORT/_connector" --disable-telemetry
