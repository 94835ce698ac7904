import { CANONICAL_ORDER, CANONICAL_VERSION, type FieldKind } from '../../event';
import { hashHex } from '../../canonical';
import { civilDate, civilRange, jsonTextOf, timeOfDay } from './canonicalText';
import { CHAIN_COL, COL, FIELDS, fieldOffsets, int32 } from './copyRows';
import { FlatJsonb } from './flatJsonb';

/**
 * Does each event's canonical text say what its columns say, and does its hash match? Asked of
 * the bytes of a binary COPY (copyRows.ts), with no per-row driver work: node-postgres spent
 * ~3.5 µs per event turning rows into objects, the SHA-256 costs ~0.5 µs.
 *
 * The SHA-256 is over the stored canonical bytes: the exact bytes appendEvent hashed, since the
 * text is stored as UTF-8 and binary COPY carries it untouched. The column check is a walk along
 * the canonical text that expects, key by key, what canonicalJson would write for the column
 * values: literal key bytes, each string column quoted (escaped the way JSON.stringify escapes
 * it), uuids in their text form, times as ISO-8601 with milliseconds, before/after re-serialised
 * canonically from jsonb. The walk must end exactly at the end of the text.
 *
 * A row it cannot vouch for (a difference, or a form it does not produce) is a doubt: the caller
 * reads that batch again through the driver and lets the Node comparison decide and name the
 * columns, so findings are always the ones that comparison gives. A time with microseconds is one
 * such form: canonical text carries milliseconds, so a column holding more was not written by
 * appendEvent.
 */

/** What checking rows found: `doubt` (the batch needs the Node comparison), or the rows whose hash is wrong. */
export interface RowsVerdict {
  doubt: boolean;
  /** [index into the rows, SHA-256 of the stored canonical text] for each row whose stored hash differs. */
  mismatched: [number, string][];
}

/** Checks rows[from..to) of a binary COPY buffer (rows: each row's start offset, from indexRows). */
export function checkRows(buf: Buffer, rows: Int32Array, from: number, to: number): RowsVerdict {
  const walk = new Walk(buf);
  const mismatched: [number, string][] = [];
  for (let i = from; i < to; i++) {
    fieldOffsets(buf, rows[i], walk.s, walk.e);
    try {
      const computed = walk.row();
      if (computed !== null) mismatched.push([i, computed]);
    } catch (err) {
      if (err instanceof Doubt) return { doubt: true, mismatched: [] };
      throw err;
    }
  }
  return { doubt: false, mismatched };
}

const EPOCH_2000_MS = 946684800000;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** A literal to expect: its bytes, and the same bytes as big-endian 32-bit words (compared four at a time). */
interface Lit {
  bytes: Buffer;
  words: Uint32Array;
}
const k = (s: string): Lit => {
  const bytes = Buffer.from(s, 'utf8');
  const words = new Uint32Array(bytes.length >> 2);
  for (let i = 0; i < words.length; i++) words[i] = bytes.readUInt32BE(i * 4);
  return { bytes, words };
};
/** One step of the walk: the key's literal (with the punctuation before it), then its column's value. */
interface Step {
  lit: Lit;
  kind: FieldKind;
  /** The column's index in the row. */
  col: number;
}
// The canonical text's keys in JCS order (event.ts), the version last.
const STEPS: Step[] = CANONICAL_ORDER.filter((c) => c.field !== null).map(({ key, field }, i) => ({
  lit: k(`${i === 0 ? '{' : ','}"${key}":`),
  kind: field!.kind,
  col: COL[field!.column],
}));
if (CANONICAL_ORDER[CANONICAL_ORDER.length - 1].field !== null) throw new Error('copyWalk expects the version key to sort last');
const END = k(`,"v":${CANONICAL_VERSION}}`);
const CANONICAL = COL.canonical;
/** Columns that must be present for the chains (chainFields reads them): seq (8 bytes), id, stream, stream_seq (4 bytes), hash. */
const { seq: SEQ, id: ID, stream: STREAM, streamSeq: STREAM_SEQ, hash: HASH } = CHAIN_COL;
const NULL = k('null');

/** Thrown by the walk when a row is not in a form it vouches for. */
class Doubt extends Error {}

/**
 * The walk along one row's canonical text, `p` its cursor; `s`/`e` are the row's field
 * offsets in the buffer (e = -1: NULL). Bytes are compared in plain loops: the fields are short,
 * and a native call per comparison cost more than the comparing.
 */
class Walk {
  readonly s = new Int32Array(FIELDS);
  readonly e = new Int32Array(FIELDS);
  private p = 0;
  private end = 0;

  private readonly dv: DataView;
  private readonly flat = new FlatJsonb();

  constructor(private readonly b: Buffer) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** Null when the stored hash is the SHA-256 of the canonical text, else that SHA-256. Throws Doubt. */
  row(): string | null {
    const { b, s, e } = this;
    this.p = s[CANONICAL];
    this.end = e[CANONICAL];
    if (this.end < 0 || e[SEQ] - s[SEQ] !== 8 || e[ID] < 0 || e[STREAM] < 0 || e[STREAM_SEQ] - s[STREAM_SEQ] !== 4 || e[HASH] < 0) throw new Doubt();
    for (let i = 0; i < STEPS.length; i++) {
      const step = STEPS[i];
      this.lit(step.lit);
      switch (step.kind) {
        case 'text':
          this.str(step.col);
          break;
        case 'uuid':
          this.uuid(step.col);
          break;
        case 'time':
          this.time(step.col);
          break;
        case 'json':
          this.json(step.col);
          break;
        case 'integer':
          this.integer(step.col);
          break;
      }
    }
    this.lit(END);
    if (this.p !== this.end) throw new Doubt();

    const computed = hashHex(b.subarray(s[CANONICAL], e[CANONICAL]));
    return computed.length === e[HASH] - s[HASH] && b.toString('latin1', s[HASH], e[HASH]) === computed ? null : computed;
  }

  /** An int4 column as its decimal text, or null. */
  private integer(i: number): void {
    if (this.e[i] < 0) return this.lit(NULL);
    if (this.e[i] - this.s[i] !== 4) throw new Doubt();
    this.ascii(String(int32(this.b, this.s[i])));
  }

  /** The next bytes are exactly `l`. */
  private lit({ bytes, words }: Lit): void {
    const { b, dv } = this;
    const p = this.p;
    const n = bytes.length;
    if (p + n > this.end) throw new Doubt();
    for (let w = 0; w < words.length; w++) if (dv.getUint32(p + 4 * w) !== words[w]) throw new Doubt();
    for (let j = words.length * 4; j < n; j++) if (b[p + j] !== bytes[j]) throw new Doubt();
    this.p = p + n;
  }

  /** Text column i as JSON.stringify writes it (only ", \ and controls are escaped: valid UTF-8 has no lone surrogates). */
  private str(i: number): void {
    const a = this.s[i];
    const z = this.e[i];
    if (z < 0) return this.lit(NULL);
    const { b, dv } = this;
    const p = this.p;
    const len = z - a;
    for (let j = a; j < z; j++) {
      const c = b[j];
      if (c < 0x20 || c === 0x22 || c === 0x5c) return this.text(JSON.stringify(b.toString('utf8', a, z)));
    }
    if (p + len + 2 > this.end || b[p] !== 0x22 || b[p + len + 1] !== 0x22) throw new Doubt();
    let j = 0;
    for (; j + 4 <= len; j += 4) if (dv.getUint32(a + j) !== dv.getUint32(p + 1 + j)) throw new Doubt();
    for (; j < len; j++) if (b[a + j] !== b[p + 1 + j]) throw new Doubt();
    this.p = p + len + 2;
  }

  /** A uuid column (16 bytes) as its quoted lowercase text form, or null. */
  private uuid(i: number): void {
    if (this.e[i] < 0) return this.lit(NULL);
    const { b } = this;
    const p = this.p;
    if (this.e[i] - this.s[i] !== 16 || p + 38 > this.end || b[p] !== 0x22 || b[p + 37] !== 0x22) throw new Doubt();
    let q = p + 1;
    for (let j = this.s[i], n = 0; n < 16; j++, n++) {
      if (n === 4 || n === 6 || n === 8 || n === 10) {
        if (b[q] !== 0x2d) throw new Doubt();
        q++;
      }
      const v = b[j];
      if (b[q] !== HEX[v >> 4] || b[q + 1] !== HEX[v & 15]) throw new Doubt();
      q += 2;
    }
    this.p = p + 38;
  }

  /** A timestamptz column (µs since 2000-01-01) as quoted ISO-8601 with milliseconds, or null. */
  private time(i: number): void {
    if (this.e[i] < 0) return this.lit(NULL);
    if (this.e[i] - this.s[i] !== 8) throw new Doubt();
    const { b } = this;
    const us = int32(b, this.s[i]) * 4294967296 + (int32(b, this.s[i] + 4) >>> 0);
    // Finer than the milliseconds canonical text records: not what appendEvent wrote.
    if (!Number.isSafeInteger(us) || us % 1000 !== 0) throw new Doubt();
    const ms = us / 1000 + EPOCH_2000_MS;
    if (!civilRange(ms)) throw new Doubt();
    // "YYYY-MM-DDTHH:MM:SS.mmmZ", digit by digit (no string per time: two per event)
    const c = this.civil;
    const days = Math.floor(ms / 86400000);
    if (days !== this.day) {
      civilDate(days, c); // the date changes rarely from one event to the next
      this.day = days;
    }
    timeOfDay(ms - days * 86400000, c);
    const p = this.p;
    if (p + 26 > this.end || b[p] !== 0x22 || b[p + 25] !== 0x22) throw new Doubt();
    if (!digits(b, p + 1, c[0], 4) || b[p + 5] !== 0x2d || !digits(b, p + 6, c[1], 2) || b[p + 8] !== 0x2d || !digits(b, p + 9, c[2], 2)) throw new Doubt();
    if (b[p + 11] !== 0x54 || !digits(b, p + 12, c[3], 2) || b[p + 14] !== 0x3a || !digits(b, p + 15, c[4], 2) || b[p + 17] !== 0x3a) throw new Doubt();
    if (!digits(b, p + 18, c[5], 2) || b[p + 20] !== 0x2e || !digits(b, p + 21, c[6], 3) || b[p + 24] !== 0x5a) throw new Doubt();
    this.p = p + 26;
  }

  private readonly civil = new Int32Array(7);
  private day = NaN;

  /**
   * A jsonb column (version byte 1, then PostgreSQL's JSON text) as canonicalJson writes its value,
   * or null. A flat object or a scalar is compared token by token (below); anything else, or any
   * token whose form differs, is parsed and re-serialised canonically.
   */
  private json(i: number): void {
    if (this.e[i] < 0) return this.lit(NULL);
    const a = this.s[i] + 1;
    const z = this.e[i];
    if (this.b[a - 1] !== 1) throw new Doubt();
    const r = this.flat.match(this.b, a, z, this.p, this.end);
    if (r >= 0) {
      this.p = r;
      return;
    }
    let text: string | null = null;
    try {
      text = jsonTextOf(JSON.parse(this.b.toString('utf8', a, z)));
    } catch {
      throw new Doubt();
    }
    if (text === null) throw new Doubt();
    this.text(text);
  }


  private text(t: string): void {
    if (isAscii(t)) this.ascii(t);
    else this.bytes(Buffer.from(t, 'utf8'));
  }

  /** Bytes made for this row (a non-ASCII JSON text). */
  private bytes(l: Buffer): void {
    const { b } = this;
    const p = this.p;
    if (p + l.length > this.end) throw new Doubt();
    for (let j = 0; j < l.length; j++) if (b[p + j] !== l[j]) throw new Doubt();
    this.p = p + l.length;
  }

  /** An ASCII string, compared by char code. */
  private ascii(t: string): void {
    const { b } = this;
    const p = this.p;
    if (p + t.length > this.end) throw new Doubt();
    for (let j = 0; j < t.length; j++) if (b[p + j] !== t.charCodeAt(j)) throw new Doubt();
    this.p = p + t.length;
  }
}

/** b[p..p+width) are the decimal digits of v, zero-padded. */
function digits(b: Buffer, p: number, v: number, width: number): boolean {
  for (let j = p + width - 1; j >= p; j--) {
    if (b[j] !== 0x30 + (v % 10)) return false;
    v = Math.floor(v / 10);
  }
  return v === 0;
}

const NON_ASCII = /[^\x00-\x7f]/;
const isAscii = (s: string) => !NON_ASCII.test(s);
