# feishu-exam gateway: build the production bundle, then run it as an unprivileged user.
#   docker build -t feishu-exam .
#   docker run --env-file .env -p 3000:3000 -v feishu-exam-data:/var/lib/feishu-exam feishu-exam
FROM node:20-bookworm-slim AS build
WORKDIR /src
# python3, make and g++ build the SQLite bindings' native addons (better-sqlite3, sqlite3) when no prebuilt
# binary is reachable.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY . .
RUN npx --yes pnpm@10.34.9 install --frozen-lockfile \
 && npx --yes pnpm@10.34.9 build \
 && npx --yes pnpm@10.34.9 --filter @feishu-exam/gateway deploy --prod --legacy /out

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:/var/lib/feishu-exam/feishu-exam.sqlite
WORKDIR /app
COPY --from=build --chown=root:root /out /app
# The database folder belongs to the unprivileged user and nobody else (the gateway keeps it 0700).
RUN mkdir -p /var/lib/feishu-exam && chown node:node /var/lib/feishu-exam && chmod 700 /var/lib/feishu-exam
USER node
VOLUME ["/var/lib/feishu-exam"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# SIGTERM: not ready, finish in-flight requests and jobs, close the database, exit 0 (within 10 s).
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
