#!/usr/bin/env bash
# Start the Microsoft 365 Agents Playground (a Teams-like web client) against the local bot.
#
#   scripts/playground.sh              the guest, Megan Bowen: http://127.0.0.1:56150
#   scripts/playground.sh alex         the agent Alex Wilber:  http://127.0.0.1:56151
#   scripts/playground.sh adele        the agent Adele Vance:  http://127.0.0.1:56152
#   scripts/playground.sh desk         all three in this terminal (logs in scratch/playground/),
#                                      Ctrl-C stops them
#   scripts/playground.sh --install    install only (also installs playwright-core for the scenarios)
#
# One Playground speaks for exactly one person (its config's `currentUser`), so a guest and an
# agent are two Playground processes, each on its own port and with its own config file, both
# posting to the same bot at http://127.0.0.1:${PORT:-3978}/api/messages:
#   guest  .m365agentsplayground.yml
#   alex   scripts/playground-agent.yaml        (Alex Wilber, an agent of config/example.yaml)
#   adele  scripts/playground-agent-adele.yaml  (Adele Vance, another)
#
# The Playground (@microsoft/m365agentsplayground, proprietary pre-release licence) is a dev tool:
# it is installed into the git-ignored scratch/playground, never into the repo's package.json.
# It runs from that directory (it writes devTools/ there). scripts/playground-loopback.cjs keeps
# every socket it opens on 127.0.0.1.
set -euo pipefail

PLAYGROUND_VERSION=0.2.28
PLAYWRIGHT_VERSION=1.65.1

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

# role → port, config file, log file
port_of() {
  case "$1" in
    guest) echo "${PLAYGROUND_GUEST_PORT:-56150}" ;;
    alex) echo "${PLAYGROUND_ALEX_PORT:-56151}" ;;
    adele) echo "${PLAYGROUND_ADELE_PORT:-56152}" ;;
  esac
}
config_of() {
  case "$1" in
    # The guest's file may be overridden, as before.
    guest) echo "${M365_AGENTS_PLAYGROUND_CONFIG_PATH:-$repo/.m365agentsplayground.yml}" ;;
    alex) echo "$repo/scripts/playground-agent.yaml" ;;
    adele) echo "$repo/scripts/playground-agent-adele.yaml" ;;
  esac
}
log_of() {
  case "$1" in
    guest) echo "$scratch/devTools/m365agentsplayground.log" ;;
    *) echo "$scratch/devTools/m365agentsplayground-$1.log" ;;
  esac
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Serve one Playground in this process (exec: its pid is the Playground's).
serve() {
  local role="$1" port config
  port="$(port_of "$role")"
  config="$(config_of "$role")"
  # The Playground takes a random port when its own is taken, and then its service URL (which
  # names the port) would be wrong: refuse instead.
  if port_in_use "$port"; then
    echo "error: 127.0.0.1:$port is in use (another Playground?); stop it first" >&2
    exit 1
  fi
  # The Playground looks for .m365agentsplayground.yml in its working directory unless told.
  export M365_AGENTS_PLAYGROUND_CONFIG_PATH="$config"
  export M365_AGENTS_PLAYGROUND_LOGFILE="$(log_of "$role")"
  export TEAMSAPPTESTER_BROWSER=none
  echo "Playground ($role): http://127.0.0.1:$port  (bot: http://127.0.0.1:$bot_port/api/messages, config: ${config#"$repo"/}, Ctrl-C stops)"
  cd "$scratch"
  exec node --require "$repo/scripts/playground-loopback.cjs" "$cli" \
    -e "http://127.0.0.1:$bot_port/api/messages" -c msteams -p "$port" \
    --service-url "http://127.0.0.1:$port/_connector" --disable-telemetry
}

role="${1:-guest}"
case "$role" in
  --install | guest | alex | adele | desk) ;;
  *)
    echo "usage: scripts/playground.sh [guest|alex|adele|desk|--install]" >&2
    exit 2
    ;;
esac

install
if [[ "$role" == "--install" ]]; then
  exit 0
fi

bot_port="${PORT:-3978}"
if [[ -z "${PLAYGROUND_DESK_CHILD:-}" ]] && ! curl -fsS -o /dev/null "http://127.0.0.1:$bot_port/healthz" 2>/dev/null; then
  echo "warning: no bot answers on http://127.0.0.1:$bot_port/healthz yet; start it with" >&2
  echo "  PORT=$bot_port .venv/bin/crossdesk run" >&2
fi

if [[ "$role" != "desk" ]]; then
  serve "$role"
fi

# desk: the guest and both agents, each a child of this script, each stopped by its pid.
for each in guest alex adele; do
  if port_in_use "$(port_of "$each")"; then
    echo "error: 127.0.0.1:$(port_of "$each") ($each) is in use; stop that Playground first" >&2
    exit 1
  fi
done
mkdir -p "$scratch/devTools"
pids=()
stop() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop; exit 130' INT TERM
trap stop EXIT
for each in guest alex adele; do
  PLAYGROUND_DESK_CHILD=1 "$0" "$each" >"$scratch/devTools/$each.out" 2>&1 &
  pids+=("$!")
done
for each in guest alex adele; do
  for _ in $(seq 1 100); do
    port_in_use "$(port_of "$each")" && break
    sleep 0.2
  done
  if port_in_use "$(port_of "$each")"; then
    echo "  $each: http://127.0.0.1:$(port_of "$each")  (output: ${scratch#"$repo"/}/devTools/$each.out)"
  else
    echo "error: the $each Playground did not start; see ${scratch#"$repo"/}/devTools/$each.out" >&2
    exit 1
  fi
done
echo "Guest and agents are up (pids ${pids[*]}); Ctrl-C stops them."
wait "${pids[@]}"
