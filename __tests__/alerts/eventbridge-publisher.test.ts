import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { eventBridgeClientFor, eventBridgePublisher } from '../../src/adapters/eventbridge-publisher';
import { DEFAULT_ESCALATION_POLICY } from '../../src/alerts/escalation';
import { planTransitions } from '../../src/alerts/transitions';
import { startAlertBus, type AlertBus } from '../../src/local/alert-bus';
import { expectValidEvent, observation, PSEUDONYM_A, PSEUDONYM_B, SCORES } from './support';

const details = () =>
  planTransitions(new Map(), [observation(PSEUDONYM_A, SCORES.high), observation(PSEUDONYM_B, SCORES.medium)], new Date(), DEFAULT_ESCALATION_POLICY).transitions.map((t) => t.detail);

let bus: AlertBus;
beforeAll(async () => {
  bus = await startAlertBus();
});
afterAll(async () => bus.stop());

test('publishes through the EventBridge SDK: one event per transition on the named bus, source and detail-type set', async () => {
  const client = eventBridgeClientFor({ region: 'eu-central-2', endpoint: bus.endpoint });
  const sent = details();
  const results = await eventBridgePublisher({ client, eventBusName: 'vitals-alerts-test' }).publish(sent);
  client.destroy();
  expect(results).toEqual([{ ok: true }, { ok: true }]);
  const got = bus.events.slice(-2);
  expect(got.map((e) => [e.eventBusName, e.source, e.detailType])).toEqual([
    ['vitals-alerts-test', 'vitals-pipeline.alerts', 'NEWS2 alert transition'],
    ['vitals-alerts-test', 'vitals-pipeline.alerts', 'NEWS2 alert transition'],
  ]);
  expect(got.map((e) => e.detail)).toEqual(sent);
  got.forEach((e) => expectValidEvent(e.detail));
});

test('reports per-entry failures by index and a failed call as every entry failed', async () => {
  const sent = details();
  const partly = { send: async (cmd: PutEventsCommand) => ({ FailedEntryCount: 1, Entries: [{ EventId: 'x' }, { ErrorCode: 'ThrottlingException' }], cmd }) };
  expect(await eventBridgePublisher({ client: partly as never, eventBusName: 'b' }).publish(sent)).toEqual([{ ok: true }, { ok: false, error: 'ThrottlingException' }]);
  const down = { send: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { name: 'TimeoutError' })) };
  expect(await eventBridgePublisher({ client: down as never, eventBusName: 'b' }).publish(sent)).toEqual([
    { ok: false, error: 'TimeoutError' },
    { ok: false, error: 'TimeoutError' },
  ]);
});

test('never sends an event that does not match the schema (and does not echo its content)', async () => {
  const calls: unknown[] = [];
  const client = { send: async (cmd: PutEventsCommand) => (calls.push(cmd), { Entries: (cmd.input.Entries ?? []).map(() => ({ EventId: 'x' })) }) };
  const [good, bad] = details();
  const results = await eventBridgePublisher({ client: client as never, eventBusName: 'b' }).publish([good!, { ...bad!, patientPseudonym: 'MRN-0042137' }]);
  expect(results[0]).toEqual({ ok: true });
  expect(results[1]).toMatchObject({ ok: false, error: expect.stringMatching(/^schema: \/patientPseudonym/) });
  expect(JSON.stringify(results)).not.toContain('MRN-0042137');
  expect((calls[0] as PutEventsCommand).input.Entries).toHaveLength(1);
});

test('refuses more than 10 events per call (the PutEvents limit)', async () => {
  const many = Array.from({ length: 11 }, () => details()[0]!);
  await expect(eventBridgePublisher({ client: { send: async () => ({}) } as never, eventBusName: 'b' }).publish(many)).rejects.toThrow(/at most 10/);
});
