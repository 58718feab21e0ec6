/**
 * The gateway's entry point as users run it (a process configured by environment): it prints its
 * listening line, serves GET /health, answers MLLP (plain and with a self-signed TLS certificate),
 * writes EMF metrics, and on SIGTERM answers what it received and exits 0.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';
import { composePcd01 } from '../../src/hl7/compose';
import { createStream, RawClient, readStream, startHarness, type Harness } from './support/harness';

const ROOT = join(__dirname, '..', '..');
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

function startMain(env: Record<string, string>) {
  const output: string[] = [];
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/hl7/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'development', AWS_REGION: 'eu-central-2', KINESIS_ENDPOINT: h.kinesalite.endpoint, HL7_PORT: '0', HEALTH_PORT: '0', METRICS_FLUSH_MS: '200', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const listening = new Promise<{ hl7: string; health: number }>((resolve, reject) => {
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        output.push(line);
        if (line.includes('"msg":"listening"')) resolve(JSON.parse(line) as { hl7: string; health: number });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', () => reject(new Error(`gateway exited: ${output.join('\n')}`)));
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, output, listening, exited };
}

const health = (port: number) =>
  new Promise<number>((resolve, reject) => get({ host: '127.0.0.1', port, path: '/health' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject));

const message = (controlId: string) =>
  composePcd01({ controlId, facility: 'HOSP', patientId: 'MRN-77', deviceId: 'MON-77', observedAt: new Date(Date.now() - 10_000), vitals: { pulse: { value: 70, unit: 'bpm' } } });

test('the entry point serves MLLP and health, writes EMF metrics, and exits 0 on SIGTERM', async () => {
  const stream = `hl7-main-${Date.now()}`;
  await createStream(h.kinesis, stream);
  const g = startMain({ STREAM_NAME: stream });
  const { hl7, health: healthPort } = await g.listening;
  expect(hl7).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(await health(healthPort)).toBe(200);
  const c = await RawClient.connect(Number(hl7.split(':')[1]));
  c.send(message('MAIN-1'));
  expect((await c.waitForAcks(1))[0]?.code).toBe('AA');
  await new Promise((r) => setTimeout(r, 400));
  g.proc.kill('SIGTERM');
  expect(await g.exited).toBe(0);
  c.close();
  expect(g.output.some((l) => l.includes('"CloudWatchMetrics"') && l.includes('"AcksAA":1'))).toBe(true);
  expect(await readStream(h.kinesis, stream)).toHaveLength(1);
  expect(g.output.join('\n')).not.toContain('MRN-77');
}, 60_000);

test('HL7_TLS_SELF_SIGNED=true serves TLS with a certificate generated at start-up', async () => {
  const stream = `hl7-tls-${Date.now()}`;
  await createStream(h.kinesis, stream);
  const g = startMain({ STREAM_NAME: stream, HL7_TLS_SELF_SIGNED: 'true' });
  const { hl7 } = await g.listening;
  const c = await RawClient.connect(Number(hl7.split(':')[1]), { rejectUnauthorized: false });
  c.send(message('TLS-MAIN-1'));
  expect((await c.waitForAcks(1))[0]?.code).toBe('AA');
  c.close();
  g.proc.kill('SIGTERM');
  expect(await g.exited).toBe(0);
}, 60_000);

test('a bad configuration stops the entry point with every problem named', async () => {
  const g = startMain({ STREAM_NAME: '', HL7_PORT: 'x' });
  g.listening.catch(() => undefined);
  expect(await g.exited).toBe(1);
  const fatal = g.output.find((l) => l.includes('invalid configuration')) ?? '';
  expect(fatal).toContain('missing environment variable STREAM_NAME');
  expect(fatal).toContain('HL7_PORT must be an integer 0..65535; received \\"x\\"');
}, 60_000);
