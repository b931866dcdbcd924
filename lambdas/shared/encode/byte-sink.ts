/**
 * One growing output buffer that text and bytes are written into as they are built (the row encoders' output).
 * Short pieces (names, digits, ASCII cells) are stored with plain stores in JavaScript: a call into native code
 * costs more than the bytes of a name or a number. Long ones and bytes go through a native copy or encoder.
 */
export class ByteSink {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(size, 1024));
  }
  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  /** Text as UTF-8. */
  string(s: string): void {
    this.ensure(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Bytes, short ones stored one by one (encoded names and constants). */
  raw(b: Uint8Array): void {
    const n = b.length;
    if (n > 64) {
      this.bytes(b);
      return;
    }
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = b[k];
    this.pos = p;
  }
  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }
  /** Text known to be ASCII (digits, an ISO time, base64), one store per character. */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let k = 0; k < n; k++) buf[p++] = s.charCodeAt(k);
    this.pos = p;
  }
  /** A non-negative integer below 2^53 as decimal digits (no string made). */
  integer(v: number): void {
    this.ensure(16);
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    let x = v;
    do {
      const q = Math.floor(x / 10);
      buf[--p] = 0x30 + (x - q * 10);
      x = q;
    } while (x > 0);
  }
  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** ISO-8601 UTC text of epoch ms, written as bytes; the second's part is cached since records of a batch share it. */
export class IsoTime {
  private second = NaN;
  /** "2026-01-01T00:00:00." of the cached second, as bytes. */
  private prefixBytes = new Uint8Array(0);
  /** Writes the text of `ms` (an integer) into `out`, with no string made once its second is cached. */
  write(out: ByteSink, ms: number): void {
    this.at(ms);
    out.raw(this.prefixBytes);
    const frac = ms - this.second * 1000;
    out.ensure(4);
    const buf = out.buf;
    buf[out.pos++] = 0x30 + Math.floor(frac / 100);
    buf[out.pos++] = 0x30 + (Math.floor(frac / 10) % 10);
    buf[out.pos++] = 0x30 + (frac % 10);
    buf[out.pos++] = 0x5a; // Z
  }
  /** Moves the cache to the second of `ms`. */
  private at(ms: number): void {
    const sec = Math.floor(ms / 1000);
    if (sec !== this.second) {
      this.second = sec;
      this.prefixBytes = Buffer.from(new Date(sec * 1000).toISOString().slice(0, -4), 'latin1');
    }
  }
}
