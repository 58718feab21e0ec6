import { MllpDecoder, mllpFrame, OVERSIZE_HEAD_BYTES, type MllpEvent } from '../../src/hl7/mllp';

const frames = (events: MllpEvent[]): string[] => events.filter((e) => e.kind === 'frame').map((e) => (e as { payload: Buffer }).payload.toString());

test('a frame split across many chunks is reassembled', () => {
  const d = new MllpDecoder(1024);
  const wire = mllpFrame('MSH|^~\\&|A\rPID|||1');
  const out: MllpEvent[] = [];
  for (const byte of wire) out.push(...d.push(Buffer.from([byte])));
  expect(frames(out)).toEqual(['MSH|^~\\&|A\rPID|||1']);
});

test('several frames in one chunk are all delivered, in order', () => {
  const d = new MllpDecoder(1024);
  const out = d.push(Buffer.concat([mllpFrame('one'), mllpFrame('two'), mllpFrame('three')]));
  expect(frames(out)).toEqual(['one', 'two', 'three']);
});

test('a chunk ending between FS and CR still ends the frame with the next chunk', () => {
  const d = new MllpDecoder(1024);
  const wire = mllpFrame('abc');
  expect(d.push(wire.subarray(0, wire.length - 1))).toEqual([]);
  expect(frames(d.push(wire.subarray(wire.length - 1)))).toEqual(['abc']);
});

test('CR and LF between frames are ignored, other bytes are counted as garbage', () => {
  const d = new MllpDecoder(1024);
  const out = d.push(Buffer.concat([Buffer.from('\r\n'), mllpFrame('a'), Buffer.from('xyz'), mllpFrame('b')]));
  expect(frames(out)).toEqual(['a', 'b']);
  expect(out.filter((e) => e.kind === 'garbage')).toEqual([{ kind: 'garbage', bytes: 3 }]);
});

test('a frame restarted by a new VT is dropped as garbage and the new frame delivered', () => {
  const d = new MllpDecoder(1024);
  const out = d.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from('half'), mllpFrame('whole')]));
  expect(frames(out)).toEqual(['whole']);
  expect(out[0]).toEqual({ kind: 'garbage', bytes: 5 });
});

test('an FS not followed by CR is data, not the end of the frame', () => {
  const d = new MllpDecoder(1024);
  const out = d.push(Buffer.concat([Buffer.from([0x0b]), Buffer.from('a'), Buffer.from([0x1c]), Buffer.from('b'), Buffer.from([0x1c, 0x0d])]));
  expect(frames(out)).toEqual(['a\u001cb']);
});

test('a frame over the limit is reported once with its head and never buffered whole', () => {
  const d = new MllpDecoder(10_000);
  const big = `MSH|^~\\&|A|B|||20260101||ORU^R01|C1|P|2.6\r${'x'.repeat(50_000)}`;
  const wire = mllpFrame(big);
  const out: MllpEvent[] = [];
  let maxBuffered = 0;
  for (let i = 0; i < wire.length; i += 1000) {
    out.push(...d.push(wire.subarray(i, i + 1000)));
    maxBuffered = Math.max(maxBuffered, d.buffered);
  }
  expect(out).toHaveLength(1);
  const ev = out[0] as { kind: string; head: Buffer; bytes: number };
  expect(ev.kind).toBe('oversize');
  expect(ev.bytes).toBe(Buffer.byteLength(big));
  expect(ev.head.toString().startsWith('MSH|^~\\&|A|B')).toBe(true);
  expect(ev.head.length).toBe(OVERSIZE_HEAD_BYTES);
  expect(maxBuffered).toBeLessThanOrEqual(10_000 + 1000);
  // The decoder is usable again after the oversize frame.
  expect(frames(d.push(mllpFrame('next')))).toEqual(['next']);
});

test('a limit below 16 bytes is refused', () => {
  expect(() => new MllpDecoder(8)).toThrow(/maxFrameBytes must be an integer >= 16; received 8/);
});
