# syntax=docker/dockerfile:1
# ropc-gateway container image (docs/deployment.md): build with the dev dependencies, run on a
# small distroless Node.js LTS image with the production dependencies only, as a non-root user,
# with a read-only root filesystem (the gateway writes nothing; logs go to stdout).
#
#   docker build -t ropc-gateway:0.1.0 .
#   docker run --rm --read-only -p 9031:9031 -p 9091:9091 \
#     -v "$PWD/gateway.yaml:/etc/ropc-gateway/gateway.yaml:ro" ropc-gateway:0.1.0
#
# NODE_MAJOR picks the Node.js LTS line of both stages (the same Debian 12 / glibc, so the
# prebuilt argon2 binary of the deps stage runs in the final one). BUILD_IMAGE and
# RUNTIME_IMAGE replace the base images themselves, e.g. with a mirror of them in your own
# registry; CI builds this file with local substitutes of the same layout (.ci/image.sh):
#   BUILD_IMAGE    Debian 12 with node and npm on PATH (like node:24-bookworm-slim)
#   RUNTIME_IMAGE  Debian 12 glibc, node at /nodejs/bin/node, no shell, no npm, user 65532
#                  (like gcr.io/distroless/nodejs24-debian12:nonroot)
ARG NODE_MAJOR=24
ARG BUILD_IMAGE=node:${NODE_MAJOR}-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot

# ---- build: compile TypeScript to dist/ (typescript is a dev dependency) -------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied; build below instead.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------
FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Only node_modules leaves this stage, so npm's cache needs no cleaning here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="ropc-gateway" \
      org.opencontainers.image.description="OAuth2 gateway: ROPC token endpoint (PingFederate style), password credential validators, Redis token store and a protecting reverse proxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
ENV NODE_ENV=production \
    PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root config ./config
# The distroless nonroot user; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
# 9031: token endpoint and protected proxy; 9091: admin (/healthz /readyz /metrics).
EXPOSE 9031 9091
# Node itself is PID 1, with no init in front: the gateway handles SIGTERM and SIGINT itself
# (graceful drain, then exit 0; src/cli/start.ts) and starts no child processes, so there are no
# zombies to reap. The chart's preStop `node -e` is started by the runtime, not by PID 1.
# --max-semi-space-size=16: under a container memory limit (the chart's 448 MiB, or 256 MiB)
# Node sizes V8's heap from the cgroup, and V8 then gives the young generation 1 MB semi-spaces
# instead of 16 MB: a scavenge every few requests, objects promoted early, mark-compacts — GC
# was ~48 µs of every proxied request instead of ~11 µs with this flag (docs/performance.md,
# "Memory"). It costs up to ~30 MB of RSS. server.workers' workers inherit it.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=16", "/app/bin/ropc-gateway.js"]
CMD ["start", "--config", "/etc/ropc-gateway/gateway.yaml"]
