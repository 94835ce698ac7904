import type { SqlClient } from '../../store/database';

/** Batch boundaries found per probe: one index-only pass over CHUNK batches' worth of seqs. */
const CHUNK = 64;

/**
 * Every `size`-th seq after $1, for the next CHUNK batches: batch i is then (b[i-1], b[i]]. The rows
 * are counted, not the seq values, so unused seqs and duplicates (a dropped key) cost nothing.
 */
const BOUNDARIES_SQL = `
SELECT seq FROM (
  SELECT seq, row_number() OVER (ORDER BY seq) AS n
  FROM (SELECT seq FROM audit_events WHERE ($1::bigint IS NULL OR seq > $1) ORDER BY seq LIMIT $2) s
) w
WHERE n % $3 = 0
ORDER BY seq`;

/**
 * Rows with seq in (after, upto], or with no upper bound the next `limit` rows after `after`;
 * `after` null: from the lowest seq there is (a row forced below 1 is read, and reported, too).
 */
export type FetchRange<T> = (after: string | null, upto: string | null, limit: number) => Promise<T[]>;

/**
 * Events in seq order, in batches of about `size`, with `lanes` batches in flight while the caller
 * works on the current one (0: none, for a transaction client whose queries must not queue behind
 * one that fails). Two lanes let PostgreSQL check two batches on two connections at once.
 *
 * The boundaries come from a cheap probe, so batches can be fetched side by side; what lies past
 * the last full batch (including events appended while this runs) is read by plain keyset batches
 * until one comes back short, as a single reader would.
 */
export async function* keysetBatches<T extends { seq: string }>(
  db: SqlClient,
  size: number,
  lanes: number,
  fetch: FetchRange<T>,
): AsyncGenerator<T[]> {
  const inFlight: Promise<T[]>[] = [];
  let after: string | null = null;
  let bounds: string[] = [];
  let lastChunk = false;
  const topUp = async (want: number) => {
    while (inFlight.length < want) {
      if (!bounds.length && !lastChunk) {
        const res = await db.query<{ seq: string }>(BOUNDARIES_SQL, [after, CHUNK * size, size]);
        bounds = res.rows.map((r) => String(r.seq));
        lastChunk = bounds.length < CHUNK;
      }
      const upto = bounds.shift();
      if (upto === undefined) return;
      const batch = fetch(after, upto, size);
      batch.catch(() => undefined); // a consumer that stops early must not leave an unhandled rejection
      inFlight.push(batch);
      after = upto;
    }
  };
  for (;;) {
    await topUp(Math.max(1, lanes));
    const next = inFlight.shift();
    if (!next) break;
    const batch = await next;
    await topUp(lanes);
    if (batch.length) yield batch;
  }
  // The tail: fewer than `size` events were left when it was probed, unless more were appended since.
  for (;;) {
    const batch = await fetch(after, null, size);
    if (batch.length) yield batch;
    if (batch.length < size) return;
    after = batch[batch.length - 1].seq;
  }
}
