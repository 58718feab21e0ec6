/**
 * The Dockerfile, tsconfig.runtime.json and .dockerignore agree with each other and with the task
 * definitions. Building and running the image is `npm run test:image` (scripts/image.sh, which needs
 * a Docker daemon); these checks run everywhere.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { CONTAINER_USER, HEALTHCHECK_COMMAND, MIGRATION_COMMAND, OPS_COMMAND, PROCESSOR_COMMAND, RDS_CA_BUNDLE_PATH } from '../../src/infra/processing-service';
import { HL7_COMMAND } from '../../src/infra/hl7-gateway';
import { FHIR_COMMAND, FHIR_HEALTHCHECK_COMMAND } from '../../src/infra/fhir-read-api';

const ROOT = join(__dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** Instructions with continuation lines joined and comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const argDefault = (name: string) => instructions.find((l) => l.startsWith(`ARG ${name}=`))?.slice(`ARG ${name}=`.length);
/** The runtime folders the image compiles. */
const RUNTIME_FOLDERS = ['src/adapters', 'src/alerts', 'src/db', 'src/fhir', 'src/fhir-api', 'src/hl7', 'src/pipeline', 'src/processor', 'src/schema'];

function runtimeTsconfig(): ts.ParsedCommandLine {
  const file = join(ROOT, 'tsconfig.runtime.json');
  const { config, error } = ts.readConfigFile(file, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(config, ts.sys, ROOT, undefined, file);
}

describe('Dockerfile', () => {
  test('has no syntax directive (BuildKit would pull a frontend from a registry)', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
  });

  test('defaults to the official node 22 bookworm-slim image pinned by digest, and the real RDS CA bundle', () => {
    expect(argDefault('NODE_IMAGE')).toMatch(/^node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(argDefault('RDS_CA_BUNDLE_URL')).toBe('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem');
  });

  test('the locally assembled base carries the same Node as the pinned base image', () => {
    const script = readFileSync(join(ROOT, 'scripts', 'image.sh'), 'utf8');
    const nodeVersion = /^NODE_VERSION="(\d+)\.\d+\.\d+"$/m.exec(script)?.[1];
    expect(nodeVersion).toBe(/^node:(\d+)-/.exec(argDefault('NODE_IMAGE') ?? '')?.[1]);
  });

  test('the HEALTHCHECK runs the task definition\'s health check command', () => {
    const healthcheck = instructions.find((l) => l.startsWith('HEALTHCHECK '));
    const exec = /\bCMD\s+(\[.*\])\s*$/.exec(healthcheck ?? '')?.[1];
    expect(JSON.parse(exec ?? 'null')).toEqual([...HEALTHCHECK_COMMAND]);
  });

  test('the CMD is the processor task definition\'s command (the same V8 flags bench:pipeline measures)', () => {
    const cmd = instructions.filter((l) => l.startsWith('CMD '));
    expect(cmd).toHaveLength(1);
    expect(JSON.parse((cmd[0] as string).slice(4))).toEqual([...PROCESSOR_COMMAND]);
  });

  test('runs as the task definitions\' user and bakes the CA bundle where they point DB_SSL_CA_FILE', () => {
    expect(instructions.filter((l) => l.startsWith('USER '))).toEqual([`USER ${CONTAINER_USER}`]);
    expect(instructions).toContain(`RUN chmod 0444 ${RDS_CA_BUNDLE_PATH}`);
    expect(instructions.some((l) => l.startsWith('COPY --from=rds-ca ') && l.endsWith(` ${RDS_CA_BUNDLE_PATH}`))).toBe(true);
  });

  test('the build stage copies exactly the folders tsconfig.runtime.json compiles', () => {
    const copied = instructions.filter((l) => /^COPY src\//.test(l)).map((l) => l.split(/\s+/)[1]);
    expect(copied.sort()).toEqual(RUNTIME_FOLDERS);
    const included = (runtimeTsconfig().raw as { include: string[] }).include.map((p) => p.split('/**')[0]);
    expect([...new Set(included)].sort()).toEqual(RUNTIME_FOLDERS);
  });
});

describe('tsconfig.runtime.json', () => {
  // tsc lists every file a compile reads, imports included: a runtime file importing the CDKTF app,
  // the local runner or the ingest server would pull that code into the image.
  const listed = execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.runtime.json', '--listFilesOnly'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !f.includes('/node_modules/'))
    .map((f) => relative(ROOT, f));

  test('compiles the runtime folders and nothing else (no main.ts, src/infra, src/local, src/ingest, scripts, bench)', () => {
    expect(listed.length).toBeGreaterThan(10);
    expect(listed.filter((f) => !RUNTIME_FOLDERS.some((d) => f.startsWith(`${d}/`)))).toEqual([]);
  });

  test('compiles the entry point of every command the task definitions run', () => {
    for (const command of [PROCESSOR_COMMAND, MIGRATION_COMMAND, OPS_COMMAND, HEALTHCHECK_COMMAND, HL7_COMMAND, FHIR_COMMAND, FHIR_HEALTHCHECK_COMMAND]) {
      const entry = (command as readonly string[]).find((a) => a.endsWith('.js')) as string;
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(listed).toContain(source);
    }
  });
});

describe('.dockerignore', () => {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  test('is an allow-list: everything is excluded first', () => {
    expect(lines[0]).toBe('*');
  });

  test('excludes Terraform state files and .env files even inside allowed folders, after every allow rule', () => {
    const lastAllow = lines.map((l) => l.startsWith('!')).lastIndexOf(true);
    for (const rule of ['**/terraform.*.tfstate*', '**/*.tfstate', '**/.env', '**/.env.*']) {
      expect(lines.indexOf(rule)).toBeGreaterThan(lastAllow);
    }
  });
});
