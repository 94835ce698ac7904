import { CANONICAL_ORDER, CANONICAL_VERSION, type AuditEventRecord, type EventField } from '../../event';

/**
 * canonicalJson(canonicalFields(e)), written field by field from the event table (CANONICAL_ORDER):
 * a few times faster than the generic serialiser, and byte-identical to it, or null where that is
 * not certain (an undefined field, an invalid date, a non-finite number, a value that is not plain
 * JSON). verify uses it to say "the columns agree with the hashed text" with one string
 * comparison; a null or a difference goes to the exact comparison in agreement.ts, so this can
 * only save work.
 */
export function canonicalTextOf(e: AuditEventRecord): string | null {
  let out = '';
  for (let i = 0; i < CANONICAL_ORDER.length; i++) {
    const { field } = CANONICAL_ORDER[i];
    const value = field === null ? String(CANONICAL_VERSION) : valueText(field, e[field.key]);
    if (value === null) return null;
    out += PREFIXES[i] + value;
  }
  return `${out}}`;
}

/** `{"key":` before the first value, `,"key":` before the others. */
const PREFIXES = CANONICAL_ORDER.map(({ key }, i) => `${i === 0 ? '{' : ','}${JSON.stringify(key)}:`);

function valueText(f: EventField, v: unknown): string | null {
  if (v === null && f.nullable) return 'null';
  switch (f.kind) {
    case 'time':
      return isoOf(v);
    case 'json':
      return jsonTextOf(v ?? null);
    case 'integer':
      return typeof v === 'number' && Number.isFinite(v) ? JSON.stringify(v) : null;
    default:
      return str(v);
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? JSON.stringify(v) : null);

function isoOf(d: unknown): string | null {
  if (!(d instanceof Date)) return null;
  const t = d.getTime();
  if (Number.isNaN(t)) return null;
  return `"${isoString(t)}"`;
}

const YEAR_0 = -62167219200000; // 0000-01-01T00:00:00.000Z
const YEAR_10000 = 253402300800000;
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * The UTC calendar fields of `ms` (an integer in years 0..9999) into `out`: year, month, day, hour,
 * minute, second, millisecond.
 */
export function civilFields(ms: number, out: Int32Array): void {
  const days = Math.floor(ms / 86400000);
  civilDate(days, out);
  timeOfDay(ms - days * 86400000, out);
}

/** Year, month and day (out[0..2]) of a count of days since 1970-01-01: H. Hinnant's days_from_civil, inverted. */
export function civilDate(days: number, out: Int32Array): void {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  out[0] = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out[1] = month;
  out[2] = doy - Math.floor((153 * mp + 2) / 5) + 1;
}

/** Hour, minute, second and millisecond (out[3..6]) of `rest` milliseconds into a day. */
export function timeOfDay(rest: number, out: Int32Array): void {
  out[3] = Math.floor(rest / 3600000);
  rest -= out[3] * 3600000;
  out[4] = Math.floor(rest / 60000);
  rest -= out[4] * 60000;
  out[5] = Math.floor(rest / 1000);
  out[6] = rest - out[5] * 1000;
}

/** ms is in the range civilFields covers (toISOString's four-digit years, from 0000). */
export const civilRange = (ms: number) => ms >= YEAR_0 && ms < YEAR_10000 && Number.isInteger(ms);

const civil = new Int32Array(7);

/** Date.prototype.toISOString for years 0..9999, about seven times faster (it showed up in profiles: two per event). */
export function isoString(ms: number): string {
  if (!civilRange(ms)) return new Date(ms).toISOString();
  civilFields(ms, civil);
  const [year, month, day, h, m, sec, milli] = civil;
  const y = year < 10 ? `000${year}` : year < 100 ? `00${year}` : year < 1000 ? `0${year}` : `${year}`;
  return `${y}-${pad2(month)}-${pad2(day)}T${pad2(h)}:${pad2(m)}:${pad2(sec)}.${milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : milli}Z`;
}

/** A JSON value as canonicalJson writes it; plain JSON data only (what JSON.parse and jsonb produce), else null. */
export function jsonTextOf(v: unknown): string | null {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : null;
    case 'object':
      break;
    default:
      return null;
  }
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) return null; // a hole, which canonicalJson writes as nothing
      const item = v[i] === undefined ? 'null' : jsonTextOf(v[i]);
      if (item === null) return null;
      out += i ? `,${item}` : item;
    }
    return `${out}]`;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return null; // Dates, class instances: the generic path
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const value = obj[k];
    if (value === undefined) continue;
    const text = jsonTextOf(value);
    if (text === null) return null;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${text}`;
    first = false;
  }
  return `${out}}`;
}
