import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../src/audit/canonical';
import {
  AUDIT_COLUMNS,
  auditRowToRecord,
  CANONICAL_ORDER,
  canonicalFields,
  EVENT_COLUMNS,
  EVENT_FIELDS,
  LABEL_OF_FIELD,
  type AuditEventRecord,
  type FieldKind,
} from '../src/audit/event';
import { EXPORT_LINE_KEYS, fromExportLine, toExportLine } from '../src/audit/export/format';
import { appendEvent } from '../src/audit/trail';
import { AGREED_BATCH_SQL, type AgreedRow } from '../src/audit/verify/fast/agreementSql';
import { canonicalTextOf } from '../src/audit/verify/fast/canonicalText';
import { copyBatchSql, indexRows } from '../src/audit/verify/fast/copyRows';
import { checkRows } from '../src/audit/verify/fast/copyWalk';
import { checkExportLineFast } from '../src/audit/verify/fast/lineWalk';
import { checkExportLineInFull } from '../src/audit/verify/self';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore, STORE_KINDS } from './helpers/stores';

// The event table (src/audit/event.ts) is the one definition of the event format; every encoding
// is derived from it. These tests hold each encoding to the table and to the reference
// serialiser, and the reference serialiser to RFC 8785 (JCS) through an independent
// implementation (the `canonicalize` package).

type Canonicalize = (v: unknown) => string | undefined;
let canonicalize: Canonicalize;
beforeAll(async () => {
  canonicalize = ((await import('canonicalize')) as unknown as { default: Canonicalize }).default;
});

/** A small deterministic PRNG (mulberry32): failures reproduce from the seed in the test name. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters that stress escaping and key order: controls, quotes, backslash, non-ASCII, astral
// (UTF-16 order differs from code point order there), U+2028, and U+FFFF.
const ALPHABET = ['a', 'B', 'z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0001', '\u001f', '\u007f', 'é', '€', '\u2028', '\uffff', '😀', '𝄞', '中'];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324, 1.7976931348623157e308, 2 ** 53, -(2 ** 31), 3.14159, 1 / 3];

function randomString(r: () => number, max = 8): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)];
  return s;
}

function randomJson(r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return r() < 0.5 ? NUMBERS[Math.floor(r() * NUMBERS.length)] : (r() - 0.5) * 10 ** Math.floor(r() * 30 - 10);
    case 3:
    case 4:
      return randomString(r);
    case 5:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) o[randomString(r, 4)] = randomJson(r, depth + 1);
      return o;
    }
  }
}

describe('the canonical JSON is RFC 8785 (JCS)', () => {
  test.each([1, 2, 3, 4, 5])('2,000 random JSON values, seed %i: canonicalJson writes what `canonicalize` writes', (seed) => {
    const r = rng(seed);
    for (let i = 0; i < 2000; i++) {
      const v = randomJson(r);
      expect(canonicalJson(v)).toBe(canonicalize(v));
    }
  });
});

/** An event with every field filled at random (nullable ones sometimes null), as appendEvent would record it. */
function randomEvent(r: () => number): Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'> {
  const e: Record<string, unknown> = {};
  const valueOf: Record<FieldKind, () => unknown> = {
    text: () => randomString(r, 12) || 'x',
    uuid: () => randomUUID(),
    integer: () => 1 + Math.floor(r() * 1000),
    time: () => new Date(Date.UTC(2000 + Math.floor(r() * 50), 0, 1) + Math.floor(r() * 3e10)),
    json: () => randomJson(r),
  };
  for (const f of EVENT_FIELDS) e[f.key] = f.nullable && r() < 0.3 ? null : valueOf[f.kind]();
  return e as unknown as Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'>;
}

describe('each encoding, held to the event table', () => {
  test('canonical keys are the table keys and the version, in JCS order; every field has a column and a label', () => {
    const keys = EVENT_FIELDS.map((f) => f.key as string);
    expect(Object.keys(canonicalFields(randomEvent(rng(9)))).sort()).toEqual([...keys, 'v'].sort());
    expect(CANONICAL_ORDER.map((c) => c.key)).toEqual([...keys, 'v'].sort());
    expect(EVENT_COLUMNS).toEqual(['seq', ...EVENT_FIELDS.map((f) => f.column), 'canonical', 'hash']);
    expect(AUDIT_COLUMNS).toBe(EVENT_COLUMNS.join(', '));
    expect(EXPORT_LINE_KEYS).toEqual(['seq', ...EVENT_FIELDS.map((f) => f.exportName), 'alcoa_attributable', 'alcoa_contemporaneous', 'canonical', 'hash']);
    for (const k of [...keys, 'v']) expect(LABEL_OF_FIELD[k]).toEqual(expect.any(String));
  });

  test('the fast canonical text is byte for byte the reference serialiser\'s, and both are JCS', () => {
    const r = rng(11);
    for (let i = 0; i < 2000; i++) {
      const e = randomEvent(r);
      const text = canonicalJson(canonicalFields(e));
      expect(canonicalTextOf({ ...e, seq: '1', canonical: text, hash: '' })).toBe(text);
      expect(canonicalize(JSON.parse(text))).toBe(text);
    }
  });

  test('the export line has the table\'s keys in its order, its fast check accepts it, and it reads back to the same event', () => {
    const r = rng(12);
    for (let i = 0; i < 500; i++) {
      const e = randomEvent(r);
      const canonical = canonicalJson(canonicalFields(e));
      const record = { ...e, seq: String(i + 1), canonical, hash: 'not-the-hash' };
      const line = JSON.stringify(toExportLine(record));
      expect(Object.keys(JSON.parse(line))).toEqual(EXPORT_LINE_KEYS);
      const fast = checkExportLineFast(line);
      // The hash is wrong on purpose: the fast path must accept the form and find only that.
      expect(fast).toEqual(checkExportLineInFull(line));
      expect(fast?.self).toMatchObject({ hashOk: false, diffs: [] });
      const back = fromExportLine(JSON.parse(line));
      expect(canonicalJson(canonicalFields(back))).toBe(canonical);
    }
  });
});

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    const appended: AuditEventRecord[] = [];
    beforeAll(async () => {
      store = await openStore(kind);
      const r = rng(13);
      await store.db.transaction(async (tx) => {
        for (let i = 0; i < 200; i++) {
          const e = randomEvent(r);
          appended.push(
            await appendEvent(tx, {
              stream: `format:${i}`,
              mode: 'new',
              action: e.action,
              occurredAt: e.occurredAt,
              actor: e,
              jobId: null,
              reason: e.reason,
              before: e.before,
              after: e.after,
            }),
          );
        }
      });
    });
    afterAll(() => store?.close());

    test('every table column exists in audit_events with the type its kind says', async () => {
      const res = await store.db.query<{ column_name: string; data_type: string }>(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'audit_events'",
      );
      const types = new Map(res.rows.map((c) => [c.column_name, c.data_type]));
      const expected: Record<FieldKind, string> = { text: 'text', uuid: 'uuid', integer: 'integer', time: 'timestamp with time zone', json: 'jsonb' };
      for (const f of EVENT_FIELDS) expect([f.column, types.get(f.column)]).toEqual([f.column, expected[f.kind]]);
      for (const c of EVENT_COLUMNS) expect(types.has(c)).toBe(true);
    });

    test('rows read back map to the appended events, and the SQL comparison says every one agrees', async () => {
      const rows = await store.db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events ORDER BY seq`);
      const byId = new Map(rows.rows.map((row) => [row.id as string, auditRowToRecord(row)]));
      for (const e of appended) {
        const back = byId.get(e.id)!;
        expect(canonicalJson(canonicalFields(back))).toBe(e.canonical);
      }
      const agreed = await store.db.query<AgreedRow>(AGREED_BATCH_SQL, [null, '9223372036854775807', null]);
      expect(agreed.rows).toHaveLength(appended.length);
      expect(agreed.rows.filter((row) => row.columnsAgree !== true).map((row) => row.id)).toEqual([]);
    });

    if (kind === 'postgres') {
      test('the COPY walk vouches for every row: no doubt, no hash mismatch', async () => {
        const buf = await store.db.copyOut!(copyBatchSql(null, null, null));
        const rows = indexRows(buf);
        expect(rows.length).toBe(appended.length);
        expect(checkRows(buf, rows, 0, rows.length)).toEqual({ doubt: false, mismatched: [] });
      });
    }
  });
}
