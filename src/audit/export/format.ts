import { EVENT_FIELDS, type AuditEventRecord, type EventField } from '../event';

/**
 * One export line per event: seq, then every field of the event table (event.ts) under its export
 * name, in the table's order, then the ALCOA flags, the canonical text and its hash. Every field
 * of the hashed canonical text is present, so an offline verify can check each one against the
 * canonical text exactly as it does in the database. (Key order is not significant to readers:
 * exports written before the table put prev_hash last, and still verify.)
 */
export interface ExportLine {
  seq: number;
  id: string;
  stream: string;
  stream_seq: number;
  prev_hash: string | null;
  timestamp: string;
  action: string;
  user_id: string;
  user_email: string | null;
  token_iat: string | null;
  session_id: string | null;
  impersonator_id: string | null;
  job_id: string | null;
  reason: string | null;
  before: unknown;
  after: unknown;
  request_id: string | null;
  ip: string | null;
  user_agent: string | null;
  alcoa_attributable: boolean;
  alcoa_contemporaneous: boolean;
  canonical: string;
  hash: string;
}

/** An export line's keys, in the order toExportLine writes them. */
export const EXPORT_LINE_KEYS: readonly string[] = [
  'seq',
  ...EVENT_FIELDS.map((f) => f.exportName),
  'alcoa_attributable',
  'alcoa_contemporaneous',
  'canonical',
  'hash',
];

/**
 * ALCOA "attributable": the actor is identified, either a named system actor (`system:*`) or a
 * person whose verified token put a session or issue time on the record.
 */
export function isAttributable(e: Pick<AuditEventRecord, 'actorId' | 'sessionId' | 'tokenIssuedAt'>): boolean {
  if (!e.actorId || !e.actorId.trim()) return false;
  return e.actorId.startsWith('system:') || e.sessionId !== null || e.tokenIssuedAt !== null;
}

export function toExportLine(e: AuditEventRecord): ExportLine {
  const line: Record<string, unknown> = { seq: Number(e.seq) };
  for (const f of EVENT_FIELDS) {
    const v = e[f.key];
    // json: in canonical key order (the database's jsonb has its own): the same values, and offline
    // verify can compare the text as it is (verify/fast/lineWalk.ts).
    line[f.exportName] = f.kind === 'time' ? ((v as Date | null)?.toISOString() ?? null) : f.kind === 'json' ? sortedKeys(v ?? null) : v;
  }
  line.alcoa_attributable = isAttributable(e);
  // occurred_at is the database clock read in the transaction that made the change.
  line.alcoa_contemporaneous = true;
  line.canonical = e.canonical;
  line.hash = e.hash;
  return line as unknown as ExportLine;
}

/** A JSON value whose objects list their keys sorted by code unit, as canonicalJson writes them. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v === null || typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return v;
  const obj = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = sortedKeys(obj[k]);
  return out;
}

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(String(v)));
const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function fromExported(f: EventField, v: unknown): unknown {
  switch (f.kind) {
    case 'integer':
      return Number(v);
    case 'time':
      return f.nullable ? date(v) : (date(v) ?? new Date(NaN));
    case 'json':
      return v ?? null;
    default:
      return f.nullable ? text(v) : String(v ?? '');
  }
}

/** The inverse of toExportLine; a malformed line still maps, and verify reports what disagrees. */
export function fromExportLine(l: Partial<ExportLine>): AuditEventRecord & { exported: Partial<ExportLine> } {
  const line = l as Record<string, unknown>;
  const e: Record<string, unknown> = { seq: String(l.seq), canonical: String(l.canonical), hash: String(l.hash), exported: l };
  for (const f of EVENT_FIELDS) e[f.key] = fromExported(f, line[f.exportName]);
  return e as unknown as AuditEventRecord & { exported: Partial<ExportLine> };
}

export interface ExportManifestFile {
  name: string;
  day: string;
  sha256: string;
  lines: number;
  first_seq: number;
  last_seq: number;
}

export interface ExportManifest {
  format: 'jobledger.audit.export';
  version: 1;
  /** The trail's identity (identity.ts); absent in exports from before identities, null before the first checkpoint. */
  trail_id?: string | null;
  exported_at: string;
  requested: { from: string | null; to: string | null };
  /** The seq interval exported: (after_seq, upto_seq], widened to checkpoint boundaries. */
  covered: { after_seq: number; upto_seq: number; events: number };
  files: ExportManifestFile[];
  /** The checkpoint the export starts after (its digest starts the running digest), or null. */
  base_checkpoint: Record<string, unknown> | null;
  checkpoints: Record<string, unknown>[];
  public_key: { key_id: string; pem: string } | null;
}
