/**
 * HL7 gateway benchmark: ORU^R01 messages/s through ONE gateway process (the real entry point,
 * src/hl7/main.ts, in its own process) into kinesalite (its own process), driven over loopback MLLP
 * by this process. Prints figures; asserts nothing.
 *
 *   npx ts-node --transpile-only bench/hl7-gateway.ts [messages=30000] [repeats=3] [connections=50]
 *
 * Each repeat, on a fresh stream:
 * 1. saturation: `connections` connections each keeping 8 messages in flight (closed loop) until
 *    `messages` are answered: throughput = ACKs / wall time;
 * 2. paced: 1,000 messages/s spread over the connections for `messages / 1000` s (open loop, each
 *    connection pipelining as needed): ACK latency seen by the sender (includes Kinesis) and, from
 *    the gateway's EMF samples (AckLatencyExcludingPutMs), ACK latency excluding Kinesis: the
 *    gateway's own time, without this message's PutRecords wait or its wait for earlier messages'
 *    ACKs on the same connection (their PutRecords waits).
 * CPU per message comes from /proc/<pid>/stat (utime + stime) of the gateway process over phase 1,
 * beside kinesalite's CPU per record in the same window (the peer). A fresh kinesalite per repeat.
 * Medians over the repeats. HL7_BENCH_CPU_PROF=<dir> also writes a CPU profile of the gateway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { kinesisClientFor } from '../src/adapters/kinesis-client';
import { composePcd01 } from '../src/hl7/compose';
import { MllpDecoder, mllpFrame } from '../src/hl7/mllp';

const ROOT = join(__dirname, '..');
const MESSAGES = Number(process.argv[2] ?? 30_000);
const REPEATS = Number(process.argv[3] ?? 3);
const CONNECTIONS = Number(process.argv[4] ?? 50);
const WINDOW = 8;
const PACED_RATE = 1_000;
const CLK_TCK = 100;

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

function waitForLine(proc: ChildProcess, pattern: RegExp, sink?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let found = false;
    const onData = (d: Buffer): void => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        sink?.(line);
        if (!found && pattern.test(line)) {
          found = true;
          resolve(line);
        }
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', () => !found && reject(new Error('process exited before it was ready')));
  });
}

async function startKinesaliteProcess(): Promise<{ proc: ChildProcess; endpoint: string }> {
  const script = "const k=require('kinesalite')({createStreamMs:50,shardLimit:100});k.listen(0,'127.0.0.1',()=>console.log('PORT '+k.address().port))";
  const proc = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const line = await waitForLine(proc, /^PORT \d+/);
  return { proc, endpoint: `http://127.0.0.1:${line.split(' ')[1]}` };
}

interface Gateway {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly emf: string[];
}

async function startGateway(endpoint: string, stream: string): Promise<Gateway> {
  const emf: string[] = [];
  // HL7_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the gateway (node --cpu-prof) there.
  const prof = process.env.HL7_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.HL7_BENCH_CPU_PROF] : [];
  const proc = spawn(process.execPath, [...prof, '-r', 'ts-node/register/transpile-only', 'src/hl7/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'development', AWS_REGION: 'eu-central-2', STREAM_NAME: stream, KINESIS_ENDPOINT: endpoint, HL7_PORT: '0', HEALTH_PORT: '0', LOG_LEVEL: 'warn', METRICS_FLUSH_MS: '500', HL7_MAX_CONNECTIONS: '10000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await waitForLine(proc, /"msg":"listening"/, (l) => {
    if (l.includes('CloudWatchMetrics')) emf.push(l);
  });
  return { proc, port: Number((JSON.parse(line) as { hl7: string }).hl7.split(':')[1]), emf };
}

/** Pre-built messages: 500 patients, one monitor each, complete vital sets (~1 KB each). */
function buildMessages(n: number, tag: string): Buffer[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) =>
    mllpFrame(
      composePcd01({
        controlId: `${tag}-${i}`,
        facility: 'BENCH',
        patientId: `MRN-${100000 + (i % 500)}`,
        deviceId: `0009FB${String(i % 500).padStart(10, '0')}`,
        observedAt: new Date(now - 60_000 + (i % 1000)),
        vitals: {
          pulse: { value: 60 + (i % 40), unit: 'bpm' },
          respirationRate: { value: 12 + (i % 8), unit: 'breaths/min' },
          spo2: { value: 92 + (i % 8), unit: '%' },
          systolicBp: { value: 100 + (i % 40), unit: 'mmHg' },
          diastolicBp: { value: 60 + (i % 20), unit: 'mmHg' },
          temperature: { value: 36.5 + (i % 20) / 10, unit: 'Cel' },
        },
      }),
    ),
  );
}

class Conn {
  private readonly decoder = new MllpDecoder(1 << 20);
  private readonly sentAt: number[] = [];
  inFlight = 0;
  onAck: (latencyMs: number, ok: boolean) => void = () => undefined;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.decoder.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const t = this.sentAt.shift() as number;
        this.inFlight--;
        this.onAck(performance.now() - t, ev.payload.includes('MSA|AA|'));
      }
    });
  }

  static open(port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }

  send(frame: Buffer): void {
    this.sentAt.push(performance.now());
    this.inFlight++;
    this.socket.write(frame);
  }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function saturation(conns: Conn[], frames: Buffer[]): Promise<{ seconds: number; notAa: number }> {
  let next = 0;
  let done = 0;
  let notAa = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const pump = (c: Conn): void => {
      while (c.inFlight < WINDOW && next < frames.length) c.send(frames[next++] as Buffer);
    };
    for (const c of conns) {
      c.onAck = (_ms, ok) => {
        done++;
        if (!ok) notAa++;
        if (done === frames.length) resolve();
        else pump(c);
      };
      pump(c);
    }
  });
  return { seconds: (performance.now() - start) / 1000, notAa };
}

async function paced(conns: Conn[], frames: Buffer[]): Promise<number[]> {
  const latencies: number[] = [];
  let done = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    for (const c of conns) {
      c.onAck = (ms) => {
        latencies.push(ms);
        if (++done === frames.length) resolve();
      };
    }
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(frames.length, Math.floor(((performance.now() - start) / 1000) * PACED_RATE));
      while (sent < due) {
        (conns[sent % conns.length] as Conn).send(frames[sent] as Buffer);
        sent++;
      }
      if (sent < frames.length) setTimeout(tick, 1);
    };
    tick();
  });
  return latencies.sort((a, b) => a - b);
}

function gatewaySamples(emf: readonly string[], name: string): number[] {
  return emf
    .flatMap((l) => {
      const v = (JSON.parse(l) as Record<string, number | number[]>)[name];
      return v === undefined ? [] : Array.isArray(v) ? v : [v];
    })
    .sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const rows: Array<Record<string, number>> = [];
  for (let r = 0; r < REPEATS; r++) {
    // A fresh kinesalite per repeat: its in-memory store slows as it fills.
    const kinesalite = await startKinesaliteProcess();
    const kinesis = kinesisClientFor({ region: 'eu-central-2', endpoint: kinesalite.endpoint });
    try {
      const stream = `bench-hl7-${Date.now()}`;
      await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 4 }));
      while ((await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary?.StreamStatus !== 'ACTIVE') await new Promise((res) => setTimeout(res, 50));
      const gw = await startGateway(kinesalite.endpoint, stream);
      const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => Conn.open(gw.port)));
      // Warm-up (JIT, connections, the SDK's sockets), not measured.
      await saturation(conns, buildMessages(2_000, `warm${r}`));

      const frames = buildMessages(MESSAGES, `sat${r}`);
      const g0 = cpuMs(gw.proc.pid as number);
      const k0 = cpuMs(kinesalite.proc.pid as number);
      const d0 = process.cpuUsage();
      const sat = await saturation(conns, frames);
      const gatewayCpuMs = cpuMs(gw.proc.pid as number) - g0;
      const kinesaliteCpuMs = cpuMs(kinesalite.proc.pid as number) - k0;
      const du = process.cpuUsage(d0);

      const emfBefore = gw.emf.length;
      const lat = await paced(conns, buildMessages(Math.min(MESSAGES, 20_000), `pace${r}`));
      await new Promise((res) => setTimeout(res, 1_200)); // last EMF flush
      const excl = gatewaySamples(gw.emf.slice(emfBefore), 'AckLatencyExcludingPutMs');
      const put = gatewaySamples(gw.emf.slice(emfBefore), 'PutLatencyMs');

      const row = {
        throughput: MESSAGES / sat.seconds,
        notAa: sat.notAa,
        gatewayCpuUsPerMsg: (gatewayCpuMs * 1000) / MESSAGES,
        kinesaliteCpuUsPerRecord: (kinesaliteCpuMs * 1000) / MESSAGES,
        driverCpuUsPerMsg: ((du.user + du.system) / MESSAGES),
        ackP50: pct(lat, 50),
        ackP99: pct(lat, 99),
        ackMax: lat[lat.length - 1] ?? NaN,
        exclP50: pct(excl, 50),
        exclP99: pct(excl, 99),
        exclSamples: excl.length,
        putP50: pct(put, 50),
        putP99: pct(put, 99),
      };
      rows.push(row);
      console.log(`repeat ${r + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v * 10) / 10])))}`);
      for (const c of conns) c.socket.destroy();
      gw.proc.kill('SIGTERM');
      await new Promise((res) => gw.proc.once('exit', res));
    } finally {
      kinesis.destroy();
      kinesalite.proc.kill('SIGTERM');
    }
  }
  const m = (k: string): number => Math.round(median(rows.map((x) => x[k] as number)) * 10) / 10;
  console.log('\nmedian of repeats');
  console.log(`messages per repeat                 ${MESSAGES} (ORU^R01, 7 OBX, ~${buildMessages(1, 'x')[0]?.length} bytes), ${CONNECTIONS} connections`);
  console.log(`throughput, one gateway process     ${m('throughput')} msg/s (saturation, ${WINDOW} in flight per connection; non-AA answers: ${m('notAa')})`);
  console.log(`gateway CPU per message             ${m('gatewayCpuUsPerMsg')} µs (kinesalite, the peer: ${m('kinesaliteCpuUsPerRecord')} µs per record; driver ${m('driverCpuUsPerMsg')} µs)`);
  console.log(`ACK latency at ${PACED_RATE} msg/s (sender)   p50 ${m('ackP50')} ms, p99 ${m('ackP99')} ms, max ${m('ackMax')} ms (includes PutRecords to kinesalite)`);
  console.log(`ACK latency excluding Kinesis      p50 ${m('exclP50')} ms, p99 ${m('exclP99')} ms (the gateway's own time, without its PutRecords wait or earlier messages'; EMF samples: ${m('exclSamples')})`);
  console.log(`PutRecords wait per message         p50 ${m('putP50')} ms, p99 ${m('putP99')} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
