import { AUDIT_COLUMNS, auditRowToRecord } from '../event';
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import type { SqlClient } from '../../store/database';
import { CHECKPOINT_COLUMNS, checkpointRowToRecord, checkpointToJson, type CheckpointRecord } from '../checkpoint/record';
import { toExportLine, type ExportManifest, type ExportManifestFile } from './format';
import { trailIdOf } from '../identity';

export const DEFAULT_EXPORT_DIR = path.join('logs', 'audit', 'jobs');
const BATCH = 5000;
/** Day files kept open at once; events arrive in seq order, so a day is rarely reopened. */
const OPEN_FILES = 4;

export interface ExportOptions {
  outDir: string;
  /** Events from this instant (inclusive). */
  from?: Date | null;
  /** Events before this instant (exclusive). */
  to?: Date | null;
  /** The checkpoint public key, shipped in the manifest so the export verifies offline. */
  publicKey?: { keyId: string; pem: string } | null;
}

/**
 * Writes `audit_YYYYMMDD.jsonl` files (UTC day of occurred_at) and `manifest.json`. The seq interval
 * is widened to checkpoint boundaries around the requested dates, so every sealed event in it can
 * be re-checked offline against the signed digests; events after the last checkpoint are included
 * as unsealed. Keyset batches keep memory flat at any size.
 */
export async function exportAuditTrail(db: SqlClient, opts: ExportOptions): Promise<ExportManifest> {
  const range = await exportRange(db, opts.from ?? null, opts.to ?? null);
  fs.mkdirSync(opts.outDir, { recursive: true });
  const days = new DayFiles(opts.outDir);
  let events = 0;
  if (range) {
    const page = (after: number) =>
      db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [after, range.uptoSeq, BATCH]);
    for (let pending = page(range.afterSeq); ; ) {
      const res = await pending;
      // Ask for the next page before writing this one: the database and the disk work at the same time.
      if (res.rows.length === BATCH) {
        pending = page(Number(res.rows[res.rows.length - 1].seq));
        pending.catch(() => undefined); // if writing fails first, this page's error is not the one to report
      }
      const chunks = new Map<string, { text: string[]; first: number; last: number }>();
      for (const row of res.rows) {
        const line = toExportLine(auditRowToRecord(row));
        const day = line.timestamp.slice(0, 10).replace(/-/g, '');
        let c = chunks.get(day);
        if (!c) chunks.set(day, (c = { text: [], first: line.seq, last: line.seq }));
        c.text.push(JSON.stringify(line) + '\n');
        c.last = line.seq;
      }
      for (const [day, c] of chunks) await days.write(day, c.text.join(''), c.text.length, c.first, c.last);
      events += res.rows.length;
      if (res.rows.length < BATCH) break;
    }
  }
  const files = await days.close();
  const manifest: ExportManifest = {
    format: 'jobledger.audit.export',
    version: 1,
    trail_id: await trailIdOf(db),
    exported_at: new Date().toISOString(),
    requested: { from: opts.from?.toISOString() ?? null, to: opts.to?.toISOString() ?? null },
    covered: { after_seq: range?.afterSeq ?? 0, upto_seq: range?.uptoSeq ?? 0, events },
    files,
    base_checkpoint: range?.base ? checkpointToJson(range.base) : null,
    checkpoints: (range?.checkpoints ?? []).map(checkpointToJson),
    public_key: opts.publicKey ? { key_id: opts.publicKey.keyId, pem: opts.publicKey.pem } : null,
  };
  fs.writeFileSync(path.join(opts.outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

interface Range {
  afterSeq: number;
  uptoSeq: number;
  base: CheckpointRecord | null;
  checkpoints: CheckpointRecord[];
}

async function exportRange(db: SqlClient, from: Date | null, to: Date | null): Promise<Range | null> {
  const lo = await db.query<{ s: string | null }>(
    from ? 'SELECT min(seq) AS s FROM audit_events WHERE occurred_at >= $1' : 'SELECT min(seq) AS s FROM audit_events',
    from ? [from] : [],
  );
  // No lock: an event still in flight below max(seq) is simply not in this export's unsealed
  // tail, and cannot leave a hole in a stream (a stream's appends are serialised), so exporting
  // needs only SELECT.
  const hi = to
    ? await db.query<{ s: string | null }>('SELECT max(seq) AS s FROM audit_events WHERE occurred_at < $1', [to])
    : await db.query<{ s: string | null }>('SELECT max(seq) AS s FROM audit_events');
  if (lo.rows[0].s === null || hi.rows[0].s === null || Number(hi.rows[0].s) < Number(lo.rows[0].s) || Number(hi.rows[0].s) === 0) return null;
  const minSeq = Number(lo.rows[0].s);
  const maxSeq = Number(hi.rows[0].s);
  const baseRes = await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE upto_seq < $1 ORDER BY upto_seq DESC LIMIT 1`, [minSeq]);
  const base = baseRes.rows[0] ? checkpointRowToRecord(baseRes.rows[0]) : null;
  const endRes = await db.query<{ upto_seq: string }>('SELECT upto_seq FROM audit_checkpoints WHERE upto_seq >= $1 ORDER BY upto_seq LIMIT 1', [maxSeq]);
  const uptoSeq = endRes.rows[0] ? Number(endRes.rows[0].upto_seq) : maxSeq;
  const afterSeq = base?.uptoSeq ?? 0;
  const cps = await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE upto_seq > $1 AND upto_seq <= $2 ORDER BY upto_seq`, [
    afterSeq,
    uptoSeq,
  ]);
  return { afterSeq, uptoSeq, base, checkpoints: cps.rows.map(checkpointRowToRecord) };
}

interface DayState {
  name: string;
  hash: Hash;
  lines: number;
  first: number;
  last: number;
  stream: fs.WriteStream | null;
}

/** Day files with a running SHA-256 and line count each; at most OPEN_FILES streams open at once. */
class DayFiles {
  private days = new Map<string, DayState>();
  private open: string[] = [];
  private error: Error | null = null;

  constructor(private readonly dir: string) {}

  async write(day: string, text: string, lines: number, first: number, last: number): Promise<void> {
    let d = this.days.get(day);
    if (!d) this.days.set(day, (d = { name: `audit_${day}.jsonl`, hash: createHash('sha256'), lines: 0, first, last, stream: null }));
    if (!d.stream) {
      if (this.open.length >= OPEN_FILES) await this.closeStream(this.open.shift()!);
      // A day seen for the first time starts a new file; a day reopened after eviction appends.
      d.stream = fs.createWriteStream(path.join(this.dir, d.name), { flags: d.lines === 0 ? 'w' : 'a' });
      d.stream.on('error', (err) => (this.error ??= err));
      this.open.push(day);
    }
    d.hash.update(text);
    d.lines += lines;
    d.first = Math.min(d.first, first);
    d.last = Math.max(d.last, last);
    if (this.error) throw this.error;
    if (!d.stream.write(text)) await once(d.stream, 'drain');
  }

  private async closeStream(day: string): Promise<void> {
    const d = this.days.get(day)!;
    const s = d.stream!;
    d.stream = null;
    this.open = this.open.filter((x) => x !== day);
    await new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<ExportManifestFile[]> {
    for (const day of [...this.open]) await this.closeStream(day);
    if (this.error) throw this.error;
    return [...this.days.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([day, d]) => ({
        name: d.name,
        day: `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6)}`,
        sha256: d.hash.digest('hex'),
        lines: d.lines,
        first_seq: d.first,
        last_seq: d.last,
      }));
  }
}
