# syntax=docker/dockerfile:1
# Verdict: multi-stage build. The policy bundle is compiled by the pinned opa in a
# build stage; the runtime image has only Node, the compiled server, its production
# dependencies and the bundle, and runs as an unprivileged user.
#
# Base images are pinned by digest (the multi-platform index), as published in
# docker-library/repo-info: repos/node/remote/24-bookworm-slim.md (Node 24.19.0) and
# repos/golang/remote/1.26-bookworm.md (Go 1.26.7). To move to a newer patch release,
# replace the digest with the one that file lists for the tag.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:a9f5f7c91a432850b2a8a7797adf5eadb6c733ceed61167806cee7ea7fbc29df
ARG GO_IMAGE=golang:1.26-bookworm@sha256:38f30937ff0751bd8c202e53556168b9093302ee6d591e7e65a9d1b84a9d360c

# --- opa, from the pin in tools/go.mod -------------------------------------------
FROM ${GO_IMAGE} AS opa
WORKDIR /tools
COPY tools/go.mod tools/go.sum ./
RUN go build -trimpath -o /out/opa github.com/open-policy-agent/opa

# --- compile the server and the policies ----------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/package.json
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY proto proto
COPY sdk sdk
COPY src src
COPY bin bin
# The server's bundle (dist/bundle: one module and its lazy chunks; it starts faster than dist/'s many files).
COPY scripts/bundle.mjs scripts/bundle.mjs
# The console's pages (Vite builds them into dist/console, which the runtime stage copies with dist/).
COPY console console
RUN npm run build
COPY policies policies
COPY --from=opa /out/opa .tools/bin/opa
RUN node bin/verdict.js policy build

# --- production dependencies only (no TypeScript, vitest or test containers) ----
# The examples' package.json files are left out on purpose: npm then installs the
# server's and the SDK's dependencies and nothing an example needs.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/package.json
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- runtime --------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# At most two glibc malloc arenas (one per allocating thread otherwise): a few MB
# less resident memory per process under load (docs/performance.md#memory-and-start).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/sdk/package.json sdk/package.json
COPY --from=build /app/sdk/dist sdk/dist
COPY --from=build /app/sdk/proto sdk/proto
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
COPY --from=build /app/build/bundle.tar.gz build/bundle.tar.gz
# The init container of the Helm chart's bundle.source=http (fetch a bundle over HTTPS).
COPY deploy/fetch-bundle.mjs deploy/fetch-bundle.mjs
# Verdict's local files: the audit trail's spill directory (records wait there while
# the database is unavailable). Keep it on a volume so a restart replays them.
RUN mkdir -p /var/lib/verdict && chown node:node /var/lib/verdict
ENV VERDICT_HOME=/var/lib/verdict
VOLUME /var/lib/verdict
USER node
# 50051: gRPC Check (listen). 9464: the admin listener (admin_listen: /healthz, /readyz, /metrics).
EXPOSE 50051 9464
# Ready means: a bundle loaded, the database reached, audit able to keep a record.
# The slim image has no curl: Node's fetch asks /readyz. The configuration must set
# admin_listen: 0.0.0.0:9464 (or change VERDICT_HEALTHCHECK_URL to match).
ENV VERDICT_HEALTHCHECK_URL=http://127.0.0.1:9464/readyz
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.VERDICT_HEALTHCHECK_URL, { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Mount a configuration here (listen: 0.0.0.0:50051 with tls, or insecure_plaintext:
# true when a mesh encrypts the hop; admin_listen: 0.0.0.0:9464; issuers; apis) and
# give the database as MONGODB_URI. docs/configuration.md, docs/deployment.md
ENTRYPOINT ["node", "bin/verdict.js"]
CMD ["serve", "--config", "/etc/verdict/verdict.yaml"]
