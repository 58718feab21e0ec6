import { composePcd01 } from '../../src/hl7/compose';
import { Hl7Sender } from '../../src/local/hl7-sender';
import { startGateway, startHarness, type Harness, type RunningTestGateway } from '../hl7/support/harness';

let h: Harness;
let g: RunningTestGateway;
beforeAll(async () => {
  h = await startHarness();
  g = await startGateway(h);
});
afterAll(async () => {
  await g.stop();
  await h.stop();
});

const message = (controlId: string, pulse = 70) =>
  composePcd01({ controlId, facility: 'HOSP', patientId: 'MRN-S1', deviceId: 'MON-S1', observedAt: new Date(Date.now() - 5_000), vitals: { pulse: { value: pulse, unit: 'bpm' } } });

test('messages pipelined over a few connections each get their own ACK', async () => {
  const sender = new Hl7Sender({ host: '127.0.0.1', port: g.port, connections: 3, maxInFlightPerConnection: 4 });
  try {
    const acks = await Promise.all(Array.from({ length: 40 }, (_, i) => sender.send(message(`S-${i}`, i % 5 === 0 ? 400 : 70))));
    expect(acks.map((a) => a?.controlId)).toEqual(Array.from({ length: 40 }, (_, i) => `S-${i}`));
    expect(acks.map((a) => a?.code)).toEqual(Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? 'AE' : 'AA')));
    expect(sender.inFlight).toBe(0);
  } finally {
    sender.close();
  }
});

test('a send to a gateway that is not there answers undefined, so the caller resends', async () => {
  const sender = new Hl7Sender({ host: '127.0.0.1', port: 1, connections: 1 });
  try {
    expect(await sender.send(message('S-X'))).toBeUndefined();
  } finally {
    sender.close();
  }
});
