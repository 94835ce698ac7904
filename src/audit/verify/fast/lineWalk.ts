import { CANONICAL_ORDER, CANONICAL_VERSION, EVENT_FIELDS, type EventField } from '../../event';
import { hashHex } from '../../canonical';
import { jsonTextOf } from './canonicalText';
import { EXPORT_LINE_KEYS, isAttributable } from '../../export/format';
import type { PrecheckedEvent } from '../types';

/**
 * verify --file's fast path for one export line, as export.ts writes it: JSON.stringify of
 * toExportLine, so its keys come in one order, with no spaces. Instead of parsing the whole line
 * (a 1.4 KB JSON.parse, then rebuilding the canonical text from the values), it finds each
 * value's token by the key that follows it and checks that the canonical text is exactly those
 * tokens under the canonical keys: a string, null or number token written by JSON.stringify is
 * the text canonicalJson writes for the same value. before/after are re-serialised canonically
 * (the export keeps the database's key order). Then the SHA-256 of the canonical text, and the
 * ALCOA flags against the actor.
 *
 * Undefined when the line is not in that exact form or anything differs: the caller then parses
 * the line and lets the full comparison decide and describe, so the outcome is always the one the
 * full check gives; this only skips its work for lines that are as they were written.
 *
 * Finding a token by the next key is exact for strings: inside a JSON string every quote is
 * escaped, so `,"key":` cannot occur in one. Inside before/after it can (a nested key), but then
 * the token cut there is an object or array left open, which does not parse: undefined.
 */

/** The export line's keys, in toExportLine's order (derived from the event table). */
const LINE_KEYS = EXPORT_LINE_KEYS;
const MARKS = LINE_KEYS.map((k, i) => `${i === 0 ? '{' : ','}"${k}":`);
const SLOT: Record<string, number> = Object.fromEntries(LINE_KEYS.map((k, i) => [k, i]));
const slotOf = (f: EventField) => SLOT[f.exportName];

/** The canonical text's keys (in JCS order), each with the line slot that holds its value; the version is last. */
const CANONICAL = CANONICAL_ORDER.filter((c) => c.field !== null);
if (CANONICAL_ORDER[CANONICAL_ORDER.length - 1].field !== null) throw new Error('lineWalk expects the version key to sort last');
const PREFIXES = CANONICAL.map(({ key }, i) => `${i === 0 ? '{' : ','}"${key}":`);
const END = `,"v":${CANONICAL_VERSION}}`;

/** An integer JSON.stringify writes as it is and Number() reads back exactly (no -0, at most 15 digits). */
const INTEGER = /^(0|-?[1-9][0-9]{0,14})$/;
/** A whole, valid JSON string token. */
const STRING = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"$/;

const fieldsOf = (test: (f: EventField) => boolean) => EVENT_FIELDS.filter(test).map(slotOf);
const isText = (f: EventField) => f.kind === 'text' || f.kind === 'uuid';
const STRING_SLOTS = [...fieldsOf((f) => isText(f) && !f.nullable), SLOT.hash];
const NULLABLE_SLOTS = fieldsOf((f) => isText(f) && f.nullable);
const INTEGER_SLOTS = [SLOT.seq, ...fieldsOf((f) => f.kind === 'integer')];
const TIME_SLOTS = EVENT_FIELDS.filter((f) => f.kind === 'time').map((f) => [slotOf(f), f.nullable] as const);
const JSON_SLOTS = fieldsOf((f) => f.kind === 'json');
const byKey = (key: string) => slotOf(EVENT_FIELDS.find((f) => f.key === key)!);
/** The slots the chains and the ALCOA flags need. */
const I = {
  seq: SLOT.seq, id: byKey('id'), stream: byKey('stream'), streamSeq: byKey('streamSeq'), prevHash: byKey('prevHash'),
  actorId: byKey('actorId'), sessionId: byKey('sessionId'), tokenIssuedAt: byKey('tokenIssuedAt'),
  attributable: SLOT.alcoa_attributable, contemporaneous: SLOT.alcoa_contemporaneous, canonical: SLOT.canonical, hash: SLOT.hash,
};

const ISO = /^"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z"$/;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * A time token as toISOString writes it (so fromExportLine's Date gives back the same text), or
 * null: the form, and a date that exists. (Date.parse and a round trip said the same, slower.)
 */
function isoToken(token: string, nullable: boolean): boolean {
  if (token === 'null') return nullable;
  const m = ISO.exec(token);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month])) return false;
  return Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6]) < 60;
}

const CANONICAL_SLOTS = CANONICAL.map(({ field }) => slotOf(field!));

// Module-level helpers, not closures: under tsx every closure made per call is also given a name.
/** A validated string token's value: the text inside the quotes when nothing is escaped. */
const jsonString = (token: string): string => (token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1));
const nullableString = (token: string): string | null => (token === 'null' ? null : jsonString(token));

/** The canonical text the line's tokens make, with these texts for the json fields (by slot). */
function expectedText(tk: string[], json: Map<number, string> | null): string {
  let text = '';
  for (let i = 0; i < CANONICAL_SLOTS.length; i++) {
    const slot = CANONICAL_SLOTS[i];
    text += PREFIXES[i] + (json?.get(slot) ?? tk[slot]);
  }
  return text + END;
}

export function checkExportLineFast(line: string): PrecheckedEvent | undefined {
  const tk: string[] = new Array(LINE_KEYS.length);
  if (!line.startsWith(MARKS[0])) return undefined;
  let at = MARKS[0].length;
  for (let i = 1; i < MARKS.length; i++) {
    const next = line.indexOf(MARKS[i], at);
    if (next < 0) return undefined;
    tk[i - 1] = line.slice(at, next);
    at = next + MARKS[i].length;
  }
  if (line.charCodeAt(line.length - 1) !== 0x7d) return undefined; // }
  tk[LINE_KEYS.length - 1] = line.slice(at, line.length - 1);

  // Every token is valid JSON of the type fromExportLine keeps as it is: then the line parses, and
  // each value read from it is the value its token says.
  for (const i of STRING_SLOTS) if (!STRING.test(tk[i])) return undefined;
  for (const i of NULLABLE_SLOTS) if (tk[i] !== 'null' && !STRING.test(tk[i])) return undefined;
  for (const i of INTEGER_SLOTS) if (!INTEGER.test(tk[i])) return undefined;
  for (const [i, nullable] of TIME_SLOTS) if (!isoToken(tk[i], nullable)) return undefined;
  let canonical: unknown;
  const values = new Map<number, unknown>();
  try {
    canonical = JSON.parse(tk[I.canonical]);
    for (const i of JSON_SLOTS) values.set(i, JSON.parse(tk[i])); // valid JSON, whatever form it has
  } catch {
    return undefined;
  }
  if (typeof canonical !== 'string') return undefined;

  // The canonical text is exactly these tokens under the canonical keys. json values are taken as
  // they are first (export writes them canonically), else re-serialised canonically.
  if (expectedText(tk, null) !== canonical) {
    const texts = new Map<number, string>();
    for (const [i, v] of values) {
      const t = jsonTextOf(v);
      if (t === null) return undefined;
      texts.set(i, t);
    }
    if (expectedText(tk, texts) !== canonical) return undefined;
  }

  const sessionId = nullableString(tk[I.sessionId]);
  const attributable = isAttributable({ actorId: jsonString(tk[I.actorId]), sessionId, tokenIssuedAt: tk[I.tokenIssuedAt] === 'null' ? null : new Date(0) });
  if (tk[I.attributable] !== String(attributable) || tk[I.contemporaneous] !== 'true') return undefined;

  const hash = jsonString(tk[I.hash]);
  const computedHash = hashHex(canonical);
  return {
    seq: String(Number(tk[I.seq])),
    id: jsonString(tk[I.id]),
    stream: jsonString(tk[I.stream]),
    streamSeq: Number(tk[I.streamSeq]),
    hash,
    prevHash: nullableString(tk[I.prevHash]),
    self: computedHash === hash ? null : { hashOk: false, diffs: [], computedHash },
  };
}
