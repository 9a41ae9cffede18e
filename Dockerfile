# syntax=docker/dockerfile:1
# Verdict: multi-stage build. The policy bundle is compiled by the pinned opa in a
# build stage; the runtime image has only Node, the compiled server and the bundle,
# and runs as an unprivileged user.

# --- opa, from the pin in tools/go.mod -------------------------------------------
FROM golang:1.24-bookworm AS opa
WORKDIR /tools
COPY tools/go.mod tools/go.sum ./
RUN go build -trimpath -o /out/opa github.com/open-policy-agent/opa

# --- compile the server and the policies ----------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY sdk/package.json sdk/package.json
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY proto proto
COPY sdk sdk
COPY src src
COPY bin bin
RUN npm run build
COPY policies policies
COPY --from=opa /out/opa .tools/bin/opa
RUN node bin/verdict.js policy build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime --------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/sdk/package.json sdk/package.json
COPY --from=build /app/sdk/dist sdk/dist
COPY --from=build /app/sdk/proto sdk/proto
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
COPY --from=build /app/build/bundle.tar.gz build/bundle.tar.gz
# Verdict's local files: the audit trail's spill directory (records wait there while
# the database is unavailable). Keep it on a volume so a restart replays them.
RUN mkdir -p /var/lib/verdict && chown node:node /var/lib/verdict
ENV VERDICT_HOME=/var/lib/verdict
VOLUME /var/lib/verdict
USER node
EXPOSE 50051
# Mount a configuration here (listen: 0.0.0.0:50051 with tls, or insecure_plaintext:
# true when a mesh encrypts the hop; issuers; apis; mongodb_uri). docs/configuration.md
ENTRYPOINT ["node", "bin/verdict.js"]
CMD ["serve", "--config", "/etc/verdict/verdict.yaml"]
