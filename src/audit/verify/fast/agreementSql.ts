import { CANONICAL_ORDER, CANONICAL_VERSION, type EventField } from '../../event';
import type { CheckedEvent } from '../types';

/**
 * "Do the columns say what the hashed canonical text says?", asked of PostgreSQL, so that verify
 * reads 8 small columns per event instead of decoding all 21 in node-postgres (the Dates and jsonb
 * values alone cost more than the SHA-256).
 *
 * The query rebuilds the canonical text from the columns, derived from the event table (event.ts)
 * the way canonicalJson writes it (keys in JCS order, no spaces, strings escaped by to_json, times
 * as ISO-8601 with milliseconds and 'Z'), except the two json fields (`after`, `before`), whose key order PostgreSQL cannot reproduce cheaply: those two are
 * cut out of the stored text and compared as jsonb values. `columnsAgree` is:
 * - true only if canonical = prefix || A || ',"before":' || B || suffix byte for byte, where prefix
 *   and suffix are rebuilt from the columns, and A::jsonb = after and B::jsonb = before. A and B
 *   then parse as standalone JSON values (PostgreSQL's JSON grammar is no looser than JSON.parse),
 *   so the text is an object with exactly the 19 canonical keys and the columns' values: the check
 *   in Node (columnsAgree) would say the same;
 * - false or null otherwise (a difference, or a form this rebuild does not produce, such as an
 *   object key order jsonb reorders, a timestamp with microseconds, a year outside 1000..9999).
 *   Null and false are not findings: the caller re-reads those events' columns and lets
 *   columnsAgree/diffFields decide and name the column, so every finding is the one Node gives.
 * The only errors it can raise come from casting A or B (a tampered text that is not JSON, or
 * \u0000 and lone surrogates, which jsonb refuses); the caller falls back for that batch.
 *
 * This trusts the server to evaluate the comparison, as verify already trusts it to return what is
 * stored: see "What a database superuser can and cannot hide" in docs/audit-trail.md (an export
 * checked offline does every check in Node). The SHA-256 is always computed here, in Node.
 */

/** As JSON.stringify(date.toISOString()); null (no agreement) for forms node-postgres and toISOString may not reproduce. */
const isoTime = (col: string) =>
  `CASE WHEN ${col} >= '1000-01-01 00:00:00Z'::timestamptz AND ${col} < '10000-01-01 00:00:00Z'::timestamptz ` +
  `AND date_trunc('milliseconds', ${col}) = ${col} ` +
  `THEN '"' || to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"' END`;

/** A field's value as canonicalJson writes it, in SQL, from its column (json fields are compared apart). */
function valueSql(f: EventField): string {
  const col = `e.${f.column}`;
  const text = { text: `to_json(${col})::text`, uuid: `'"' || ${col}::text || '"'`, integer: `${col}::text`, time: isoTime(col), json: '' }[f.kind];
  if (f.kind === 'json') throw new Error(`agreementSql: json field ${f.key} outside the cut`);
  if (!f.nullable) return text;
  return f.kind === 'time' ? `CASE WHEN ${col} IS NULL THEN 'null' ELSE ${text} END` : `COALESCE(${text}, 'null')`;
}

/**
 * The canonical keys (JCS order) split around the two json fields, which must be adjacent: the
 * prefix up to the first one's key, the key between them, and the suffix after the second.
 */
const jsonAt = CANONICAL_ORDER.flatMap((c, i) => (c.field?.kind === 'json' ? [i] : []));
if (jsonAt.length !== 2 || jsonAt[1] !== jsonAt[0] + 1) throw new Error('agreementSql expects exactly two json fields, adjacent in canonical order');
const [A, B] = jsonAt.map((i) => CANONICAL_ORDER[i].field!);
const part = (from: number, to: number) =>
  CANONICAL_ORDER.slice(from, to).map((c, i) => {
    const key = `${from + i === 0 ? '{' : ','}${JSON.stringify(c.key)}:`;
    return `'${key}' || ${c.field ? valueSql(c.field) : `'${CANONICAL_VERSION}'`}`;
  });
const PREFIX = [...part(0, jsonAt[0]), `'${jsonAt[0] === 0 ? '{' : ','}"${A.key}":'`].join(' || ');
const BETWEEN = `,"${B.key}":`;
const SUFFIX = [...part(jsonAt[1] + 1, CANONICAL_ORDER.length), `'}'`].join(' || ');

/**
 * A row as the query returns it: named as verify's CheckedEvent (source.ts) so that node-postgres's
 * row object is used as it is, with no second object per event.
 */
export type AgreedRow = Omit<CheckedEvent, 'columnsAgree'> & { columnsAgree: boolean | null };

/**
 * One batch: events with $1 < seq <= $2 in seq order ($1 null: no lower bound), at most $3 of them
 * (null: all). Each level computes its values once (OFFSET 0 keeps the planner from inlining them
 * into every reference).
 */
export const AGREED_BATCH_SQL = `
SELECT seq::text AS seq, id, stream, stream_seq AS "streamSeq", canonical, hash, prev_hash AS "prevHash",
  CASE WHEN canonical = (p || a || '${BETWEEN}' || b || s)
    THEN a::jsonb = COALESCE(${A.column}, 'null'::jsonb) AND b::jsonb = COALESCE(${B.column}, 'null'::jsonb)
  END AS "columnsAgree"
FROM (
  SELECT x.*, split_part(x.rest, '${BETWEEN}', 1) AS a,
    split_part(split_part(x.rest, '${BETWEEN}', 2), x.s, 1) AS b
  FROM (
    SELECT r.*, split_part(r.canonical, r.p, 2) AS rest
    FROM (
      SELECT e.seq, e.id, e.stream, e.stream_seq, e.canonical, e.hash, e.prev_hash, e.${A.column}, e.${B.column},
        ${PREFIX} AS p,
        ${SUFFIX} AS s
      FROM audit_events e
      WHERE ($1::bigint IS NULL OR e.seq > $1) AND e.seq <= $2
      ORDER BY e.seq
      LIMIT $3
    ) r
    OFFSET 0
  ) x
  OFFSET 0
) y
ORDER BY y.seq`;
