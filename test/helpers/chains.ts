import { sha256Hex } from '../../src/audit/canonical';
import type { SqlClient } from '../../src/store/database';

/**
 * Every way a stream's hash chain can be broken, as readable lines (empty = intact): positions
 * 1..n without gaps, each prev_hash the previous event's hash, each hash over the stored
 * canonical text, and the canonical text naming the same stream position and predecessor.
 */
export async function chainProblems(db: SqlClient): Promise<string[]> {
  const res = await db.query<{ stream: string; stream_seq: number; canonical: string; hash: string; prev_hash: string | null }>(
    'SELECT stream, stream_seq, canonical, hash, prev_hash FROM audit_events ORDER BY stream, stream_seq',
  );
  const problems: string[] = [];
  let stream = '';
  let expected = 1;
  let prev: string | null = null;
  for (const r of res.rows) {
    if (r.stream !== stream) {
      stream = r.stream;
      expected = 1;
      prev = null;
    }
    const at = `${r.stream}#${r.stream_seq}`;
    if (r.stream_seq !== expected) problems.push(`${at}: expected position ${expected}`);
    if (r.prev_hash !== prev) problems.push(`${at}: prev_hash does not link to the previous event`);
    if (sha256Hex(r.canonical) !== r.hash) problems.push(`${at}: hash does not match the canonical text`);
    const c = JSON.parse(r.canonical) as { stream?: string; streamSeq?: number; prevHash?: string | null };
    if (c.stream !== r.stream || c.streamSeq !== r.stream_seq || c.prevHash !== r.prev_hash) {
      problems.push(`${at}: canonical text disagrees with the columns`);
    }
    expected = r.stream_seq + 1;
    prev = r.hash;
  }
  return problems;
}
