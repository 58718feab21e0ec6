/**
 * Fault injection, AWS side: kinesalite (its own process, LevelDB on disk) SIGKILLed and restarted
 * under running processor processes; Kinesis answering throttles, 5xx and connection resets; KMS
 * answering throttles. Each scenario asserts conservation (every acknowledged valid event stored
 * exactly once, every malformed record dead-lettered), that no processor dies, and that the lag
 * returns to zero within RECOVERY_TIMEOUT_MS after the fault ends; recovery times are printed.
 *
 * How AWS errors are injected: AWS SDK middleware on the processor's real clients, in the deserialize
 * step, i.e. inside the SDK's retry loop: an injected attempt fails with the SDK's own exception
 * classes and HTTP metadata, so the SDK's adaptive retry, our retry metrics and our backoff all see
 * what they would see from AWS. Chosen over an HTTP proxy in front of kinesalite because KMS has no
 * local server to proxy (locally a key file replaces it): one mechanism covers both services. For KMS
 * the same middleware answers the attempts it lets through from a local key (HMAC-SHA256 and AES-GCM
 * key wrapping, the local-key implementation's own functions): the closest real thing without AWS.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ExpiredIteratorException, KinesisServiceException, ProvisionedThroughputExceededException, type KinesisClient } from '@aws-sdk/client-kinesis';
import { KMSClient, KMSInternalException, KMSServiceException } from '@aws-sdk/client-kms';
import type { Pool } from 'pg';
import { pgDataKeyStore } from '../../src/adapters/data-key-store';
import { createPhiProtector, localMac, localWrapper } from '../../src/adapters/phi';
import { countRetries } from '../../src/processor/main';
import type { Metrics } from '../../src/processor/metrics';
import {
  caughtUp,
  conservation,
  CYCLES,
  expectConserved,
  finishScenario,
  Producer,
  RECOVERY_TIMEOUT_MS,
  recovered,
  reportFault,
  sleep,
  startFaultStack,
  startScenario,
  timeUntil,
  type FaultStack,
} from './support/faults';
import { startProcessor, type RunningProcessor } from './support/in-process';
import { adminPool, createStream, newDatabase } from './support/stack';

let stack: FaultStack;
const pools: Pool[] = [];
const running: RunningProcessor[] = [];

beforeAll(async () => {
  stack = await startFaultStack();
}, 90_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await stack?.stop();
});

/** Sums a counter over every EMF line in the log. */
function metricTotal(lines: readonly string[], name: string): number {
  let total = 0;
  for (const l of lines) {
    if (!l.includes('"_aws"')) continue;
    const v = (JSON.parse(l) as Record<string, unknown>)[name];
    if (typeof v === 'number') total += v;
  }
  return total;
}

type Fault = () => Error;
const KINESIS_FAULTS: readonly Fault[] = [
  () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded for shard', $metadata: { httpStatusCode: 400 } }),
  () => new KinesisServiceException({ name: 'InternalFailure', message: 'internal failure', $fault: 'server', $metadata: { httpStatusCode: 500 } }),
  () => new KinesisServiceException({ name: 'ServiceUnavailable', message: 'service unavailable', $fault: 'server', $metadata: { httpStatusCode: 503 } }),
  () => Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET' }),
];

/** Counts of injected failures: all of them, and those an AWS client retries (not an expired iterator). */
interface Injected {
  n: number;
  expiredIterators: number;
}

/**
 * Fails a share of the client's attempts while `active()` (deserialize step: inside the SDK's retry
 * loop). Every fifth GetRecords failure is an expired iterator instead, which the reader handles by
 * re-acquiring an iterator from its checkpoint.
 */
function injectFaults(client: { middlewareStack: KinesisClient['middlewareStack'] | KMSClient['middlewareStack'] }, active: () => boolean, share: number, faults: readonly Fault[], injected: Injected): void {
  (client.middlewareStack as KinesisClient['middlewareStack']).add(
    (next, context) => async (args) => {
      if (active() && Math.random() < share) {
        if (context.commandName === 'GetRecordsCommand' && ++injected.expiredIterators % 5 === 0) {
          throw new ExpiredIteratorException({ message: 'Iterator expired', $metadata: { httpStatusCode: 400 } });
        }
        injected.n++;
        throw (faults[injected.n % faults.length] as Fault)();
      }
      return next(args);
    },
    { step: 'deserialize', name: 'faultInjector', priority: 'high' },
  );
}

test('kinesalite SIGKILLed and restarted mid-stream: processors ride it out and lose or duplicate nothing', async () => {
  const s = await startScenario(stack, pools);
  const recoveries: number[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await sleep(2_000);
      await stack.restartKinesalite(2_000);
      const watermark = s.producer.watermark();
      recoveries.push(await timeUntil(() => recovered(s, watermark), RECOVERY_TIMEOUT_MS, 'catch-up after kinesalite restart'));
    }
  } finally {
    await finishScenario(s, 'kinesalite-killed', recoveries);
  }
  expect(s.producer.failedCalls).toBeGreaterThan(0); // the producer really met the outage
}, 300_000);

interface InProcessScenario {
  readonly db: Pool;
  readonly stream: string;
  readonly producer: Producer;
  readonly logLines: string[];
}

async function inProcessScenario(patients: number): Promise<InProcessScenario> {
  const database = await newDatabase(stack);
  const db = adminPool(stack, database);
  pools.push(db);
  const stream = `aws-faults-${randomUUID().slice(0, 8)}`;
  await createStream(stack.kinesis, stream, 4);
  const producer = new Producer(stack.kinesis, stream, 400, patients);
  return { db, stream, producer, logLines: [] };
}

/** Runs CYCLES fault windows of `windowMs`, measuring the catch-up after each; then checks conservation. */
async function faultWindows(s: InProcessScenario, fault: string, windowMs: number, setActive: (on: boolean) => void, extra: () => Record<string, unknown>): Promise<void> {
  s.producer.start();
  const recoveries: number[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      setActive(true);
      await sleep(windowMs);
      setActive(false);
      const watermark = s.producer.watermark();
      recoveries.push(await timeUntil(() => caughtUp(s.db, s.stream, watermark), RECOVERY_TIMEOUT_MS, `catch-up after ${fault}`));
      await sleep(1_000);
    }
  } finally {
    setActive(false);
    await s.producer.stop();
  }
  const last = s.producer.watermark();
  await timeUntil(() => caughtUp(s.db, s.stream, last), RECOVERY_TIMEOUT_MS, 'final catch-up');
  await sleep(500);
  await Promise.all(running.splice(0).map((p) => p.stop()));
  const c = await conservation(s.db, s.producer);
  reportFault(fault, recoveries, c, extra());
  expectConserved(c);
  expect(c.validAcknowledged).toBeGreaterThan(500);
  expect(s.logLines.filter((line) => s.producer.patients.some((id) => line.includes(id)))).toEqual([]);
}

test('Kinesis throttles, 5xx and connection resets are retried with backoff and counted; nothing lost or duplicated', async () => {
  const s = await inProcessScenario(40);
  let active = false;
  const injected: Injected = { n: 0, expiredIterators: 0 };
  for (const worker of ['aws-a', 'aws-b']) {
    running.push(
      startProcessor(stack, s.db.options.database as string, s.stream, worker, s.logLines, { maxRecordsPerCall: 500 }, (client) =>
        injectFaults(client, () => active, 0.4, KINESIS_FAULTS, injected),
      ),
    );
  }
  await faultWindows(s, 'kinesis-throttles-5xx', 5_000, (on) => (active = on), () => ({
    injected: injected.n,
    expired_iterators_injected: Math.floor(injected.expiredIterators / 5),
    KinesisRetries: metricTotal(s.logLines, 'KinesisRetries'),
    KinesisThrottles: metricTotal(s.logLines, 'KinesisThrottles'),
  }));
  expect(injected.n).toBeGreaterThan(10);
  // Every injected failure was counted as a retryable attempt (the SDK's own retries included).
  expect(metricTotal(s.logLines, 'KinesisRetries')).toBe(injected.n);
  expect(metricTotal(s.logLines, 'KinesisThrottles')).toBeGreaterThan(0);
  // Every expired iterator the reader consumed was re-acquired from the checkpoint (conservation above
  // proves nothing was skipped). A GetRecords prefetched while a batch commits is dropped unread when
  // that commit finds the lease lost (the workers rebalance as they start), and its iterator with it:
  // an expiry injected there needs no handling, so handled <= injected, not equal.
  const expiredInjected = Math.floor(injected.expiredIterators / 5);
  const expiredHandled = s.logLines.filter((l) => l.includes('shard iterator expired; re-acquiring from the checkpoint')).length;
  expect(expiredHandled).toBeLessThanOrEqual(expiredInjected);
  if (expiredInjected >= 3) expect(expiredHandled).toBeGreaterThan(0);
}, 300_000);

test('KMS throttling is retried (SDK retries, then the batch with backoff) and counted; nothing lost or duplicated', async () => {
  // A new patient per few events: each needs a pseudonym, i.e. a GenerateMac call, as on AWS.
  const s = await inProcessScenario(3_000);
  let active = false;
  const injected: Injected = { n: 0, expiredIterators: 0 };
  const master = randomBytes(32);
  const mac = localMac(master);
  const wrapper = localWrapper(master);
  const kmsArn = 'arn:aws:kms:eu-central-2:123456789012:key/00000000-0000-0000-0000-000000000000';
  const clients: KMSClient[] = [];
  const makePhi = (pool: Pool, metrics: Metrics) => {
    const kms = new KMSClient({ region: 'eu-central-2', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 4, retryMode: 'adaptive' });
    clients.push(kms);
    countRetries(kms, metrics, 'KmsRetries', 'KmsThrottles'); // as main.ts does
    injectFaults(kms, () => active, 0.5, [
      () => new KMSServiceException({ name: 'ThrottlingException', message: 'Rate exceeded', $fault: 'client', $metadata: { httpStatusCode: 400 } }),
      () => new KMSInternalException({ message: 'internal', $metadata: { httpStatusCode: 500 } }),
    ], injected);
    // The attempts let through are answered from the local key (never leave the process): inner to
    // the injector, outer to the SDK's deserializer (same step and priority: insertion order).
    kms.middlewareStack.add(
      () => async (args) => {
        const input = (args as unknown as { input: Record<string, Uint8Array | undefined> }).input;
        let output: Record<string, unknown>;
        if (input.Message) output = { Mac: await mac.mac(Buffer.from(input.Message)) };
        else if (input.CiphertextBlob) output = { Plaintext: await wrapper.unwrap(Buffer.from(input.CiphertextBlob)) };
        else {
          const k = await wrapper.generate();
          output = { Plaintext: k.plaintext, CiphertextBlob: k.wrapped };
        }
        return { output: { ...output, $metadata: {} }, response: {} };
      },
      { step: 'deserialize', name: 'localKmsAnswer', priority: 'high' },
    );
    return createPhiProtector({ kind: 'kms', region: 'eu-central-2', phiKeyArn: kmsArn, hmacKeyArn: kmsArn }, pgDataKeyStore(pool), kms);
  };
  for (const worker of ['kms-a', 'kms-b']) {
    running.push(startProcessor(stack, s.db.options.database as string, s.stream, worker, s.logLines, { maxRecordsPerCall: 500 }, undefined, makePhi));
  }
  try {
    await faultWindows(s, 'kms-throttles', 5_000, (on) => (active = on), () => ({
      injected: injected.n,
      KmsRetries: metricTotal(s.logLines, 'KmsRetries'),
      KmsThrottles: metricTotal(s.logLines, 'KmsThrottles'),
      BatchRetries: metricTotal(s.logLines, 'BatchRetries'),
    }));
  } finally {
    clients.forEach((c) => c.destroy());
  }
  expect(injected.n).toBeGreaterThan(10);
  expect(metricTotal(s.logLines, 'KmsRetries')).toBe(injected.n);
  expect(metricTotal(s.logLines, 'KmsThrottles')).toBeGreaterThan(0);
}, 300_000);
