/**
 * MLLP framing (HL7 v2 Implementation Guide, Appendix C: Minimal Lower Layer Protocol): every message
 * travels as `<VT> message <FS><CR>`. The decoder is incremental (a frame may arrive in many TCP
 * chunks, and one chunk may carry several frames), bounded (a frame larger than `maxFrameBytes` is
 * skipped to its end, keeping only its head so the reject ACK can name its control id), and
 * tolerant of what real senders put between frames (CR/LF keep-alives are dropped, other bytes
 * counted as garbage).
 *
 * Written here rather than taken from an HL7 library: the MLLP servers on the npm registry detect a
 * frame's end only when a TCP chunk happens to end with <FS><CR>, and buffer without a bound.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;
const LF = 0x0a;

/** Bytes of an oversize frame kept for its MSH segment (enough for any real header). */
export const OVERSIZE_HEAD_BYTES = 4096;

export type MllpEvent =
  /** A complete frame's payload (between VT and FS CR). */
  | { readonly kind: 'frame'; readonly payload: Buffer }
  /** A frame longer than the limit: `head` is its first bytes, `bytes` its full length. */
  | { readonly kind: 'oversize'; readonly head: Buffer; readonly bytes: number }
  /** Bytes outside any frame, or a frame cut short by the next VT (the sender restarted it). */
  | { readonly kind: 'garbage'; readonly bytes: number };

export class MllpDecoder {
  private inFrame = false;
  private chunks: Buffer[] = [];
  private size = 0;
  /** Set once the current frame passed the limit: bytes are counted, not kept. */
  private oversize = false;
  /** The previous chunk ended with FS inside a frame (its CR may start the next chunk). */
  private pendingFs = false;

  constructor(readonly maxFrameBytes: number) {
    if (!Number.isInteger(maxFrameBytes) || maxFrameBytes < 16) {
      throw new RangeError(`maxFrameBytes must be an integer >= 16; received ${maxFrameBytes}`);
    }
  }

  /** Bytes held for the frame in progress (at most maxFrameBytes + one chunk). */
  get buffered(): number {
    return this.oversize ? Math.min(this.size, OVERSIZE_HEAD_BYTES) : this.size;
  }

  /** True while a frame has started and not ended. */
  get midFrame(): boolean {
    return this.inFrame;
  }

  push(chunk: Buffer): MllpEvent[] {
    const events: MllpEvent[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        const outside = (start < 0 ? chunk.length : start) - i;
        const garbage = outside > 0 ? countGarbage(chunk, i, i + outside) : 0;
        if (garbage > 0) events.push({ kind: 'garbage', bytes: garbage });
        if (start < 0) return events;
        this.startFrame();
        i = start + 1;
        continue;
      }
      if (this.pendingFs) {
        this.pendingFs = false;
        if (chunk[i] === CR) {
          this.endFrame(events);
          i += 1;
          continue;
        }
        this.append(Buffer.from([FS]));
      }
      // The next FS or VT decides what happens to the bytes before it.
      const fs = chunk.indexOf(FS, i);
      const vt = chunk.indexOf(VT, i);
      if (vt >= 0 && (fs < 0 || vt < fs)) {
        // A new frame starts before this one ended: the sender gave up on it.
        this.append(chunk.subarray(i, vt));
        events.push({ kind: 'garbage', bytes: this.size + 1 });
        this.startFrame();
        i = vt + 1;
        continue;
      }
      if (fs < 0) {
        this.append(chunk.subarray(i));
        return events;
      }
      this.append(chunk.subarray(i, fs));
      if (fs + 1 >= chunk.length) {
        this.pendingFs = true;
        return events;
      }
      if (chunk[fs + 1] === CR) {
        this.endFrame(events);
        i = fs + 2;
      } else {
        // FS without CR is data (HL7 forbids it in content, but it is not a frame end).
        this.append(chunk.subarray(fs, fs + 1));
        i = fs + 1;
      }
    }
    return events;
  }

  private startFrame(): void {
    this.inFrame = true;
    this.chunks = [];
    this.size = 0;
    this.oversize = false;
    this.pendingFs = false;
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    this.size += part.length;
    if (this.oversize) return;
    if (this.size > this.maxFrameBytes) {
      this.oversize = true;
      // Keep only the head (for the MSH segment); let go of the rest.
      const head = Buffer.concat([...this.chunks, part]).subarray(0, OVERSIZE_HEAD_BYTES);
      this.chunks = [Buffer.from(head)];
      return;
    }
    this.chunks.push(part);
  }

  private endFrame(events: MllpEvent[]): void {
    if (this.oversize) {
      events.push({ kind: 'oversize', head: this.chunks[0] ?? Buffer.alloc(0), bytes: this.size });
    } else {
      events.push({ kind: 'frame', payload: this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.size) });
    }
    this.inFrame = false;
    this.chunks = [];
    this.size = 0;
    this.oversize = false;
  }
}

/** CR and LF between frames are line noise some senders add; anything else is garbage. */
function countGarbage(chunk: Buffer, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) if (chunk[k] !== CR && chunk[k] !== LF) n++;
  return n;
}

/** Wraps a message in an MLLP frame. */
export function mllpFrame(message: string | Buffer): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}
