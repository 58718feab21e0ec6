# The processor image (ECS Fargate task). Default command: the processor; the one-off migration and
# operations tasks run `node dist/src/db/migrate.js` and `node dist/src/db/requeue-dead-letters.js`,
# the HL7 gateway `node dist/src/hl7/main.js` and the FHIR read API `node dist/src/fhir-api/main.js`
# from the same image. Runs as uid 1000 and writes nothing outside /tmp, so the task can use a
# read-only root filesystem.
#
# No `# syntax=` line: it would make BuildKit pull a Dockerfile frontend from a registry; the
# frontend built into the daemon reads this file. Build args default to what production gets;
# scripts/image.sh overrides both to build where no registry is reachable (a locally assembled
# base image, a locally served CA bundle stand-in).
#
# Node 22 LTS: Node 20 is past end of life, and AWS SDK v3 releases after early 2027 need Node >= 22;
# node-pg-migrate 9 is ESM-only and loaded with require(), which needs Node >= 20.19 / 22.12.
# The multi-arch index digest of node:22-bookworm-slim (Node 22.23.2, Debian snapshot 2026-09-18), as
# docker-library/repo-info records it (repos/node/remote/22-bookworm-slim.md). Update tag and digest
# together (`docker buildx imagetools inspect node:22-bookworm-slim`), and NODE_VERSION in
# scripts/image.sh with them.
ARG NODE_IMAGE=node:22-bookworm-slim@sha256:48e4b67d85f87bd551df43704e24d252f56cc5f8e9718841aace50f19948f0f9
# The RDS CA bundle (all regions): the processor verifies Aurora's certificate with it.
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem

# Compiles the runtime folders only (tsconfig.runtime.json): nothing of the CDKTF app, so an
# infrastructure-only change leaves every layer of the image as it was.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Full install (typescript and the type packages); lifecycle scripts are not needed to compile.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.runtime.json ./
COPY src/adapters ./src/adapters
COPY src/alerts ./src/alerts
COPY src/db ./src/db
COPY src/fhir ./src/fhir
COPY src/fhir-api ./src/fhir-api
COPY src/hl7 ./src/hl7
COPY src/pipeline ./src/pipeline
COPY src/processor ./src/processor
COPY src/schema ./src/schema
RUN npx tsc -p tsconfig.runtime.json

# package.json and the lock reduced to the production tree: dev-dependency bumps (cdktf, the
# provider) and script changes do not reach the image.
FROM ${NODE_IMAGE} AS manifest
WORKDIR /app
COPY package.json package-lock.json scripts/runtime-manifest.js ./
RUN node runtime-manifest.js . /manifest

# Fetched in a stage of its own: the URL (a build arg) then reaches no RUN step's cache key, so the
# same bundle from another URL leaves the image as it was.
FROM ${NODE_IMAGE} AS rds-ca
ARG RDS_CA_BUNDLE_URL
ADD ${RDS_CA_BUNDLE_URL} /certs/rds-global-bundle.pem

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# ADD from a URL leaves the file root-only (0600), and `ADD --chmod` is ignored on URLs by older
# BuildKit frontends and rejected by the legacy builder: chmod explicitly.
COPY --from=rds-ca /certs/rds-global-bundle.pem /app/certs/rds-global-bundle.pem
RUN chmod 0444 /app/certs/rds-global-bundle.pem
COPY --from=manifest /manifest/package.json /manifest/package-lock.json ./
# Production dependencies only; none of them needs an install script.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force && rm -rf /root/.npm /tmp/*
COPY --from=build /app/dist/src ./dist/src
USER 1000:1000
# Fails the build unless the runtime user can read the bundle and it holds certificates
# (DB_SSL_CA_FILE=/app/certs/rds-global-bundle.pem in the task definitions).
RUN node -e 'const { X509Certificate } = require("node:crypto"); const pem = require("node:fs").readFileSync("/app/certs/rds-global-bundle.pem", "utf8"); const n = (pem.match(/-----BEGIN CERTIFICATE-----/g) || []).length; new X509Certificate(pem); if (n === 0) throw new Error("no certificate in the RDS CA bundle"); console.log("RDS CA bundle readable by uid " + process.getuid() + ": " + n + " certificate(s)")'
EXPOSE 8080
STOPSIGNAL SIGTERM
# The task definition's health check runs the same command (src/infra/processing-service.ts,
# HEALTHCHECK_COMMAND); both read HEALTH_PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/src/processor/healthcheck.js"]
# The processor's command: PROCESSOR_COMMAND in src/infra/processing-service.ts (the image test checks they agree).
CMD ["node", "--max-semi-space-size=8", "dist/src/processor/main.js"]
