# syntax=docker/dockerfile:1
#
# One image runs every eventgraph process. SERVICE=<gateway|auth|users|catalog|orders|analytics>
# picks one (on PORT, default from platform/services.ts); without SERVICE everything runs in
# one process. See docker-compose.yml for the full stack.
#
#   docker build -t eventgraph:local .
#   docker run --rm -p 4000:4000 -e SERVICE=gateway -e DATABASE_URL=... eventgraph:local

# ---- deps: every dependency, for the build -------------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
# npm ci installs exactly what package-lock.json pins (and fails without it).
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

# ---- prod-deps: runtime dependencies only ---------------------------------------------------
FROM node:24-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund

# ---- build: TypeScript -> dist/ (same tree, .ts -> .js) ------------------------------------
FROM deps AS build
COPY . .
RUN npm run build
# `npm run build` also copies the files the code reads at run time (every
# subgraphs/*/schema.graphql, and schema/supergraph.graphql that the gateway serves by
# default) into dist/, next to the compiled code that reads them.

# ---- runtime ----------------------------------------------------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
# package.json carries "type": "module", which makes dist/**/*.js ES modules.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The code is read-only for the process; only the embedded-PostgreSQL data dir (DATA_DIR,
# default .data, unused when DATABASE_URL is set) is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

# gateway, auth, users, catalog, orders, analytics
EXPOSE 4000 4001 4002 4003 4004 4005

# Liveness only (/health): no curl in node:24-slim, so node's fetch. PORT is unset when all
# services run in one process; the gateway is then on 4000. docker-compose.yml overrides this
# with a /ready check (dependencies reachable) so dependants start in order.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/health',{signal:AbortSignal.timeout(3000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "dist/platform/start.js"]
