import { AUDIT_COLUMNS, EVENT_COLUMNS } from '../../event';
import type { PrecheckedEvent } from '../types';

/**
 * The audit events as PostgreSQL's binary COPY writes them: the query, the row layout, and what
 * verify's chains need from each row. Checking the rows is copyWalk.ts's job.
 */

/** The COPY query's columns (the event table's, with seq, canonical and hash), in the order the field offsets follow. */
export const COPY_COLUMNS = AUDIT_COLUMNS;
export const FIELDS = EVENT_COLUMNS.length;
/** Each column's index in a row. */
export const COL: Readonly<Record<string, number>> = Object.fromEntries(EVENT_COLUMNS.map((c, i) => [c, i]));
/** The columns the chains need (chainFields), by index. */
export const CHAIN_COL = { seq: COL.seq, id: COL.id, stream: COL.stream, streamSeq: COL.stream_seq, hash: COL.hash, prevHash: COL.prev_hash };
const { seq: SEQ, id: ID, stream: STREAM, streamSeq: STREAM_SEQ, hash: HASH, prevHash: PREV_HASH } = CHAIN_COL;

/** A binary COPY of events with after < seq <= upto (either bound may be absent), in seq order, at most `limit` rows. */
export function copyBatchSql(after: string | null, upto: string | null, limit: number | null): string {
  const int = (v: string) => {
    if (!/^-?\d{1,19}$/.test(v)) throw new Error(`not an integer: ${v}`); // COPY takes no parameters: literals only
    return v;
  };
  const where = [after === null ? null : `seq > ${int(after)}`, upto === null ? null : `seq <= ${int(upto)}`].filter(Boolean);
  return (
    `COPY (SELECT ${COPY_COLUMNS} FROM audit_events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq` +
    `${limit === null ? '' : ` LIMIT ${Math.floor(limit)}`}) TO STDOUT (FORMAT binary)`
  );
}

/** A big-endian int32 at `p` (no bounds check: callers stay inside the buffer). Buffer's readInt32BE cost more per call. */
export const int32 = (b: Uint8Array, p: number): number => (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/** Each row's start offset in a binary COPY buffer. Throws on output that is not a whole binary COPY of FIELDS columns. */
export function indexRows(buf: Buffer): Int32Array {
  if (buf.length < 21 || buf.compare(SIGNATURE, 0, SIGNATURE.length, 0, SIGNATURE.length) !== 0) throw new Error('not binary COPY output');
  let pos = 15 + 4 + buf.readUInt32BE(15); // signature, flags, header extension
  let rows = new Int32Array(1024);
  let n = 0;
  for (;;) {
    if (pos + 2 > buf.length) throw new Error('binary COPY output ends mid-row');
    const fields = buf.readInt16BE(pos);
    if (fields === -1) return rows.subarray(0, n);
    if (fields !== FIELDS) throw new Error(`binary COPY row has ${fields} fields, not ${FIELDS}`);
    if (n === rows.length) {
      const more = new Int32Array(n * 2);
      more.set(rows);
      rows = more;
    }
    rows[n++] = pos;
    pos += 2;
    for (let i = 0; i < FIELDS; i++) {
      if (pos + 4 > buf.length) throw new Error('binary COPY output ends mid-row');
      const len = int32(buf, pos);
      pos += 4 + (len > 0 ? len : 0);
    }
    if (pos > buf.length) throw new Error('binary COPY output ends mid-row');
  }
}

/** The start (s) and end (e; -1 for NULL) of each field of the row at `at`. */
export function fieldOffsets(buf: Buffer, at: number, s: Int32Array, e: Int32Array): void {
  let pos = at + 2;
  for (let i = 0; i < FIELDS; i++) {
    const len = int32(buf, pos);
    pos += 4;
    s[i] = pos;
    e[i] = len < 0 ? -1 : pos + len;
    if (len > 0) pos += len;
  }
}

/**
 * What the chains and the seal need from each row (`self` is left null: the caller sets it from
 * the check's verdict). Used only when the check had no doubt, so every field has the form the
 * walk accepted.
 */
export function chainFields(buf: Buffer, rows: Int32Array): PrecheckedEvent[] {
  const s = new Int32Array(FIELDS);
  const e = new Int32Array(FIELDS);
  const out: PrecheckedEvent[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    fieldOffsets(buf, rows[i], s, e);
    out[i] = {
      seq: seqOf(buf, s[SEQ]),
      id: uuidOf(buf, s[ID]),
      stream: buf.toString('utf8', s[STREAM], e[STREAM]),
      streamSeq: int32(buf, s[STREAM_SEQ]),
      hash: buf.toString('utf8', s[HASH], e[HASH]),
      prevHash: e[PREV_HASH] < 0 ? null : buf.toString('utf8', s[PREV_HASH], e[PREV_HASH]),
      self: null,
    };
  }
  return out;
}

function seqOf(b: Buffer, at: number): string {
  const hi = b.readInt32BE(at);
  // Within ±2^53 a double is exact; beyond it (a row forced far off), read it as a BigInt.
  if (hi >= -0x200000 && hi < 0x200000) return String(hi * 4294967296 + b.readUInt32BE(at + 4));
  return b.readBigInt64BE(at).toString();
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const uuidText = Buffer.alloc(36, 0x2d); // the dashes stay; the digits are written over

/** The text form of the uuid at `at`, made as one flat string (slicing a hex string made six). */
function uuidOf(b: Buffer, at: number): string {
  for (let i = 0, q = 0; i < 16; i++, q += 2) {
    if (i === 4 || i === 6 || i === 8 || i === 10) q++;
    uuidText[q] = HEX[b[at + i] >> 4];
    uuidText[q + 1] = HEX[b[at + i] & 15];
  }
  return uuidText.toString('latin1');
}
