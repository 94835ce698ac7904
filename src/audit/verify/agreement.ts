import { canonicalFields } from '../event';
import { canonicalJson } from '../canonical';
import type { AuditEventRecord } from '../event';

/** Deep equality of two JSON values (what canonical serialisation preserves: key order does not matter). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let n = 0;
  for (const k in ao) {
    if (ao[k] === undefined) continue;
    n++;
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !sameJson(ao[k], bo[k])) return false;
  }
  let m = 0;
  for (const k in bo) if (bo[k] !== undefined) m++;
  return n === m;
}

/**
 * Do the event's columns say what its hashed canonical text says? Compares the parsed text with
 * canonicalFields(columns) value by value, which is several times cheaper than re-serialising;
 * when that says no, the byte-exact comparison decides, so the fast path can only skip work,
 * never raise a false alarm or hide a difference the exact comparison would see... except a
 * difference of form alone (whitespace, key order) in a text whose hash still matches, which is
 * how it was written.
 */
export function columnsAgree(e: AuditEventRecord): boolean {
  try {
    const hashed = JSON.parse(e.canonical) as Record<string, unknown>;
    const fields = canonicalFields(e);
    if (hashed && typeof hashed === 'object' && !Array.isArray(hashed)) {
      let defined = 0;
      let ok = true;
      for (const k in fields) {
        const a = fields[k];
        if (a === undefined) continue;
        defined++;
        const b = hashed[k];
        if (a === b || (a === null && b === null)) continue;
        if (a instanceof Date ? typeof b === 'string' && a.toISOString() === b : sameJson(a, b)) continue;
        ok = false;
        break;
      }
      if (ok) {
        let present = 0;
        for (const k in hashed) if (hashed[k] !== undefined) present++;
        if (present === defined) return true;
      }
    }
    return canonicalJson(fields) === e.canonical;
  } catch {
    return false; // unparseable text or an invalid date: the caller names the difference
  }
}
