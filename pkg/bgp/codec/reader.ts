import { BgpDecodeError } from './errors.js';

/** Bounds-checked reads over one message; running off the end is a typed error, never a crash. */
export class Reader {
  private pos: number;
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
    /** The error to raise on a short read (code, subcode). */
    private readonly short: readonly [number, number] = [1, 2],
  ) {
    this.pos = start;
  }
  get offset(): number {
    return this.pos;
  }
  remaining(): number {
    return this.end - this.pos;
  }
  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new BgpDecodeError(this.short[0], this.short[1], `message too short for ${what}: need ${n} byte(s), have ${this.end - this.pos}`);
  }
  u8(what = 'a byte'): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }
  u16(what = 'a 16-bit field'): number {
    this.need(2, what);
    const v = ((this.buf[this.pos] as number) << 8) | (this.buf[this.pos + 1] as number);
    this.pos += 2;
    return v;
  }
  u32(what = 'a 32-bit field'): number {
    this.need(4, what);
    const v = ((this.buf[this.pos] as number) * 0x1000000) + (((this.buf[this.pos + 1] as number) << 16) | ((this.buf[this.pos + 2] as number) << 8) | (this.buf[this.pos + 3] as number));
    this.pos += 4;
    return v;
  }
  bytes(n: number, what = 'a field'): Uint8Array {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  /** A sub-reader over the next n bytes (short reads in it raise `short`). */
  sub(n: number, what: string, short: readonly [number, number] = this.short): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n, short);
    this.pos += n;
    return r;
  }
}

/** Growable big-endian writer. */
export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    return this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    return this.u8(v >>> 24).u8(v >>> 16).u8(v >>> 8).u8(v);
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  get length(): number {
    return this.len;
  }
  /** Overwrites a 16-bit field written earlier (a length known only at the end). */
  patch16(at: number, v: number): void {
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
