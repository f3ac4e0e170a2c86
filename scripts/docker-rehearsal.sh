#!/usr/bin/env bash
# Rehearses every app image's build without Docker (there may be no engine): for each app of the root Dockerfile
# (`--build-arg APP=<app>`), in a temporary directory, the same steps as its stages — turbo prune --docker → frozen
# install of the pruned lockfile → the root files the build stage copies → build → pnpm deploy --prod → the runtime
# stage's COPY lines — then starts the bundle as the image would: NODE_ENV=production, a clean environment, the
# deploy's node_modules only. An app whose stage has a HEALTHCHECK (the api) must answer GET /health with 200
# (embedded PGlite in a temporary DATA_DIR); the others must answer --help with exit 0.
# Also `docker compose config` when a Compose v2 client is installed.
#
# Not rehearsed: the base image itself (node:24-slim; here the workspace's Node 24 stands in), the global pnpm/turbo
# install (here the pinned versions must already be on the PATH / in node_modules), the api against PostgreSQL and
# Redis (the compose wiring is checked by packages/testing/test/Deployment.test.ts).
#
# Usage: scripts/docker-rehearsal.sh [app ...]   (default: every apps/<app>)
#   DOCKER_REHEARSAL_KEEP=1 keeps the temporary directory; DOCKER_REHEARSAL_STEP_TIMEOUT (seconds, default 300)
#   bounds each step, DOCKER_REHEARSAL_HEALTH_TIMEOUT (default 60) the wait for /health.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STEP_TIMEOUT=${DOCKER_REHEARSAL_STEP_TIMEOUT:-300}
HEALTH_TIMEOUT=${DOCKER_REHEARSAL_HEALTH_TIMEOUT:-60}
export CI=true TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1

die() { echo "docker-rehearsal: FAILED: $*" >&2; exit 1; }

# ── toolchain: Node 24 as in the image, pnpm and turbo at the versions the Dockerfiles pin ──────────────────────────
NODE_BIN=$ROOT/node_modules/.bin/node
[ -x "$NODE_BIN" ] || NODE_BIN=$(command -v node || true)
[ -n "$NODE_BIN" ] || die "no node on the PATH and none in node_modules (run pnpm install first)"
NODE_BIN=$(readlink -f "$NODE_BIN")
NODE_MAJOR=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 24 ] || die "node $("$NODE_BIN" --version) at $NODE_BIN: the images run Node 24 (run pnpm install first)"
# The Node 24 binary first on the PATH of every step, as the base image's node is (the Dockerfiles drop the workspace's
# node_modules/.bin/node link, and so does this script).
NODE_DIR=$(mktemp -d)
ln -s "$NODE_BIN" "$NODE_DIR/node"
export PATH="$NODE_DIR:$PATH"

TURBO=$ROOT/node_modules/.bin/turbo
[ -x "$TURBO" ] || die "turbo is not installed at $TURBO (run pnpm install first)"
command -v pnpm >/dev/null || die "pnpm is not on the PATH"

DOCKERFILE=$ROOT/Dockerfile
[ -f "$DOCKERFILE" ] || die "there is no Dockerfile at the repository root"
pinned() { sed -n "s/^ARG $1=//p" "$DOCKERFILE" | head -n 1; }
# The lines of the Dockerfile's stage NAME (from its FROM … AS NAME to the next FROM).
stage() {
  awk -v name="$1" 'toupper($1) == "FROM" { inside = (NF >= 4 && toupper($(NF - 1)) == "AS" && $NF == name) } inside' \
    "$DOCKERFILE"
}

if [ $# -gt 0 ]; then
  APPS=("$@")
else
  APPS=()
  for manifest in "$ROOT"/apps/*/package.json; do APPS+=("$(basename "$(dirname "$manifest")")"); done
fi
[ ${#APPS[@]} -gt 0 ] || die "no apps/*/package.json found"
# Root files the build stage copies next to the pruned workspace (`COPY <file>… ./`, not from another stage).
read -r -a ROOT_FILES <<<"$(stage build | sed -n 's#^COPY \([^-].*\) \./$#\1#p' | tr '\n' ' ')"
[ ${#ROOT_FILES[@]} -gt 0 ] || die "the Dockerfile's build stage copies no root configuration"
want_pnpm=$(pinned PNPM_VERSION)
want_turbo=$(pinned TURBO_VERSION)
[ "$(pnpm --version)" = "$want_pnpm" ] || die "pnpm $(pnpm --version) on the PATH, the Dockerfile pins $want_pnpm"
[ "$("$TURBO" --version)" = "$want_turbo" ] || die "turbo $("$TURBO" --version), the Dockerfile pins $want_turbo"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/agg-docker-rehearsal.XXXXXX")
APP_PID=""
# Stops the started app: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_app() {
  [ -n "$APP_PID" ] || return 0
  kill "$APP_PID" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 "$APP_PID" 2>/dev/null || break
    sleep 0.5
  done
  if kill -9 "$APP_PID" 2>/dev/null; then echo "  - warning: the app did not exit within 10 s of SIGTERM: killed" >&2; fi
  wait "$APP_PID" 2>/dev/null || true
  APP_PID=""
}
cleanup() {
  stop_app
  rm -rf "$NODE_DIR"
  if [ "${DOCKER_REHEARSAL_KEEP:-}" = "1" ]; then echo "docker-rehearsal: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

LOG=""
# step NAME COMMAND...: runs bounded, output to the app's log; on failure shows the log's end and stops.
step() {
  local name=$1
  shift
  echo "  - $name"
  echo "### $name: $*" >>"$LOG"
  if ! timeout "$STEP_TIMEOUT" "$@" >>"$LOG" 2>&1; then
    echo "----- last lines of the log ($name) -----" >&2
    tail -n 40 "$LOG" >&2
    die "$APP: step '$name' failed (or exceeded ${STEP_TIMEOUT}s)"
  fi
}

free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'
}

# The image's environment: nothing from this shell (no DATABASE_URL/REDIS_URL of the CI services) but what is set
# here. `env` execs node, so a backgrounded app's $! is the node process itself.
clean_env() { CLEAN_ENV=(env -i PATH="$NODE_DIR:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" NODE_ENV=production); }

started=$(date +%s)
for APP in "${APPS[@]}"; do
  [ -f "$ROOT/apps/$APP/package.json" ] || die "apps/$APP/package.json does not exist"
  PACKAGE=$(node -p "require('$ROOT/apps/$APP/package.json').name")
  # The Dockerfile builds @agg/${APP} and ends in the stage named APP.
  [ "$PACKAGE" = "@agg/$APP" ] || die "apps/$APP is $PACKAGE, but the Dockerfile builds @agg/$APP"
  [ -n "$(stage "$APP")" ] || die "the Dockerfile has no stage '$APP'"
  WORK=$TMP/$APP
  LOG=$TMP/$APP.log
  mkdir -p "$WORK/build" "$WORK/runtime"
  echo "docker-rehearsal: $PACKAGE (Dockerfile, APP=$APP)"

  # stage prune
  step "turbo prune $PACKAGE --docker" bash -c "cd '$ROOT' && '$TURBO' prune '$PACKAGE' --docker --out-dir '$WORK/out'"
  # stage build
  cp -a "$WORK/out/json/." "$WORK/build/"
  step "pnpm install --frozen-lockfile" bash -c "cd '$WORK/build' && pnpm install --frozen-lockfile --prefer-offline && rm -f node_modules/.bin/node"
  cp -a "$WORK/out/full/." "$WORK/build/"
  for file in "${ROOT_FILES[@]}"; do cp "$ROOT/$file" "$WORK/build/"; done
  step "turbo run build --filter=$PACKAGE" bash -c "cd '$WORK/build' && pnpm exec turbo run build --filter='$PACKAGE'"
  step "pnpm deploy --prod" bash -c "cd '$WORK/build' && pnpm --filter '$PACKAGE' deploy --prod --prefer-offline '$WORK/deploy'"

  # stages runtime and APP: exactly their `COPY --from=build /deploy/<src> <dest>` lines
  copies=0
  while read -r src dest; do
    cp -a "$WORK/deploy/$src" "$WORK/runtime/$dest"
    copies=$((copies + 1))
  done < <({ stage runtime; stage "$APP"; } | sed -n 's#^COPY --from=build /deploy/\([^ ]*\) \([^ ]*\)$#\1 \2#p')
  [ "$copies" -gt 0 ] || die "$APP: the Dockerfile's runtime stages copy nothing from /deploy"
  for dev in vitest tsup typescript @effect/vitest @agg/testing; do
    [ ! -e "$WORK/runtime/node_modules/$dev" ] || die "$APP: dev dependency $dev is in the runtime node_modules"
  done
  # "start" is `node [flags] <bundle>`, the image's command (Deployment.test.ts holds them equal): run it so.
  read -r -a START <<<"$(node -p "require('$ROOT/apps/$APP/package.json').scripts?.start ?? ''")"
  [ "${START[0]:-}" = node ] && [ "${#START[@]}" -ge 2 ] || die "$APP: package.json \"start\" is not \"node [flags] <bundle>\""
  ENTRY=${START[-1]}
  FLAGS=("${START[@]:1:${#START[@]}-2}")
  [ -f "$WORK/runtime/$ENTRY" ] || die "$APP: the build produced no $ENTRY"
  echo "  - runtime: $(du -sh "$WORK/runtime" | cut -f1) ($ENTRY + production node_modules)"

  cd "$WORK/runtime"
  if stage "$APP" | grep -q '^HEALTHCHECK'; then
    PORT=$(free_port)
    echo "  - start $ENTRY (embedded PGlite), wait for GET /health = 200 on port $PORT"
    clean_env
    "${CLEAN_ENV[@]}" PORT="$PORT" HOST=127.0.0.1 DATA_DIR="$WORK/data" node --enable-source-maps "${FLAGS[@]}" "$ENTRY" >>"$LOG" 2>&1 &
    APP_PID=$!
    deadline=$(($(date +%s) + HEALTH_TIMEOUT))
    status=""
    while :; do
      kill -0 "$APP_PID" 2>/dev/null || { tail -n 40 "$LOG" >&2; die "$APP: $ENTRY exited before /health answered"; }
      status=$(node -e "fetch('http://127.0.0.1:$PORT/health', { signal: AbortSignal.timeout(2000) }).then((r) => console.log(r.status), () => console.log('down'))")
      [ "$status" = "200" ] && break
      [ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$LOG" >&2; die "$APP: GET /health was '$status', not 200, after ${HEALTH_TIMEOUT}s"; }
      sleep 0.5
    done
    stop_app
    echo "  - GET /health: 200"
  else
    echo "  - $ENTRY --help"
    clean_env
    if ! help=$("${CLEAN_ENV[@]}" timeout 30 node --enable-source-maps "${FLAGS[@]}" "$ENTRY" --help 2>>"$LOG"); then
      tail -n 40 "$LOG" >&2
      die "$APP: '$ENTRY --help' did not exit 0"
    fi
    [ -n "$help" ] || die "$APP: '$ENTRY --help' printed nothing on stdout"
    echo "  - --help: exit 0, $(printf '%s\n' "$help" | wc -l) lines"
  fi
  cd "$ROOT"
done

if docker compose version >/dev/null 2>&1; then
  echo "docker-rehearsal: docker compose config"
  (cd "$ROOT" && POSTGRES_PASSWORD=rehearsal REDIS_PASSWORD=rehearsal docker compose --profile publisher config -q) ||
    die "docker compose config rejected docker-compose.yml"
else
  echo "docker-rehearsal: docker compose config skipped (no Compose v2 client on this machine)"
fi
echo "docker-rehearsal: OK: ${APPS[*]} in $(($(date +%s) - started))s"
