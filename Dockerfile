# syntax=docker/dockerfile:1.7
# The processor image (ECS Fargate task). Default command: the processor; the one-off migration task
# runs `node dist/src/db/migrate.js` from the same image. Runs as uid 1000 and writes nothing outside
# /tmp, so the task can use a read-only root filesystem.
#
# Node 22 LTS: Node 20 is past end of life, and AWS SDK v3 releases after early 2027 need Node >= 22.
# Node >= 20.19 / 22.12 is required anyway: node-pg-migrate 9 is ESM-only and loaded with require().
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Full install (dev dependencies: typescript and the type packages); lifecycle scripts are not
# needed to compile.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json main.ts ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
RUN npx tsc -p tsconfig.build.json

# The RDS CA bundle (all regions), fetched at build time so the processor verifies Aurora's
# certificate (DB_SSL_CA_FILE=/app/certs/rds-global-bundle.pem).
FROM ${NODE_IMAGE} AS certs
ADD --chmod=444 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /certs/rds-global-bundle.pem

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; none of them needs an install script.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force && rm -rf /root/.npm /tmp/*
# Only the runtime half of the build (the cdktf app in dist/main.js is not shipped).
COPY --from=build /app/dist/src ./dist/src
COPY --from=certs /certs/rds-global-bundle.pem /app/certs/rds-global-bundle.pem
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
# ECS uses the task definition's health check (the same command); this one serves `docker run`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/src/processor/healthcheck.js"]
CMD ["node", "dist/src/processor/main.js"]
