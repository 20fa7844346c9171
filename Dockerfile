# syntax=docker/dockerfile:1
# ropc-gateway container image (DESIGN §7): build with the dev dependencies, run on a small
# distroless Node.js LTS image with the production dependencies only, as a non-root user, with
# a read-only root filesystem (the gateway writes nothing; logs go to stdout).
#
#   docker build -t ropc-gateway:0.1.0 .
#   docker run --rm --read-only -p 9031:9031 -p 9091:9091 \
#     -v "$PWD/gateway.yaml:/etc/ropc-gateway/gateway.yaml:ro" ropc-gateway:0.1.0
#
# NODE_MAJOR picks the Node.js LTS line of both stages (the same Debian 12 / glibc, so the
# prebuilt argon2 binary of the deps stage runs in the final one).
ARG NODE_MAJOR=24

# ---- build: compile TypeScript to dist/ (typescript is a dev dependency) -------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied; build below instead.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only ---------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----------------------------------------------------------------------------------
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ropc-gateway" \
      org.opencontainers.image.description="OAuth2 gateway: ROPC token endpoint (PingFederate style), password credential validators, Redis token store and a protecting reverse proxy" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot"
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
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/ropc-gateway.js"]
CMD ["start", "--config", "/etc/ropc-gateway/gateway.yaml"]
