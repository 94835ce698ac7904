import crypto, { createHash } from 'node:crypto';

/**
 * Deterministic JSON: object keys sorted by code unit, no whitespace, dates as ISO-8601 UTC.
 * The hash covers exactly these bytes, and the text is stored as-is, so verification never
 * depends on re-serialising the same way (or on how jsonb normalises values).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in audit data');
  return JSON.stringify(value);
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** One-shot SHA-256 (crypto.hash, Node >= 20.12) is about twice as fast as createHash per event. Text is hashed as UTF-8. */
export const hashHex: (data: string | Buffer) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash(alg: string, data: string | Buffer, enc: 'hex'): string }).hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');
