import { createHash } from 'node:crypto';
import type { Logger } from '../../log';
import { sqlStateOf, SqlState, type Database, type SqlClient } from '../../store/database';
import { ensureTrailId } from '../identity';
import { appendJournal } from './journal';
import type { CheckpointSigner } from './key';
import { CHECKPOINT_COLUMNS, checkpointRowToRecord, checkpointSigningText, type CheckpointRecord } from './record';

/** Above this many unused seqs in one interval the list is dropped and verify relies on the count. */
export const MAX_LISTED_MISSING = 10_000;
const BATCH = 5000;

export async function latestCheckpoint(db: SqlClient): Promise<CheckpointRecord | null> {
  const res = await db.query(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY upto_seq DESC LIMIT 1`);
  return res.rows[0] ? checkpointRowToRecord(res.rows[0]) : null;
}

/**
 * Seals every event up to a safe boundary with a signed checkpoint, or returns null when there is
 * nothing new (or another process sealed the same interval first: the unique indexes on
 * prev_digest make the loser's insert fail instead of forking the chain).
 *
 * The boundary is taken under a SHARE lock held only for `SELECT max(seq)`; the digest is
 * computed afterwards, outside any lock, from keyset batches of (seq, hash).
 */
export async function createCheckpoint(db: Database, signer: CheckpointSigner): Promise<CheckpointRecord | null> {
  const prev = await latestCheckpoint(db);
  const prevUpto = prev?.uptoSeq ?? 0;
  // Unlocked look first, so an idle trail costs one index probe and never blocks writers.
  const head = await db.query<{ max: string | null }>('SELECT max(seq) AS max FROM audit_events');
  if (Number(head.rows[0]?.max ?? 0) <= prevUpto) return null;

  const trailId = await ensureTrailId(db);
  const boundary = await db.transaction((tx) =>
    tx.query<{ upto_seq: string; taken_at: Date }>('SELECT upto_seq, taken_at FROM audit_checkpoint_boundary()'),
  );
  const uptoSeq = Number(boundary.rows[0].upto_seq);
  if (uptoSeq <= prevUpto) return null;

  const sealed = await digestInterval(db, prev?.digest ?? null, prevUpto, uptoSeq);
  const body = {
    uptoSeq,
    eventCount: (prev?.eventCount ?? 0) + sealed.count,
    digest: sealed.digest,
    prevDigest: prev?.digest ?? null,
    missingSeqs: sealed.missing,
    createdAt: boundary.rows[0].taken_at,
    keyId: signer.keyId,
  };
  const signature = signer.sign(checkpointSigningText(body));
  let id: number;
  try {
    const res = await db.query<{ id: string }>(
      `INSERT INTO audit_checkpoints (upto_seq, event_count, digest, prev_digest, missing_seqs, created_at, key_id, signature)
       VALUES ($1, $2, $3, $4, $5::bigint[], $6, $7, $8) RETURNING id`,
      [body.uptoSeq, body.eventCount, body.digest, body.prevDigest, body.missingSeqs, body.createdAt, body.keyId, signature],
    );
    id = Number(res.rows[0].id);
  } catch (err) {
    if (sqlStateOf(err) === SqlState.uniqueViolation) return null;
    throw err;
  }
  const record: CheckpointRecord = { id, ...body, signature };
  if (signer.journalDir) await appendJournal(signer.journalDir, trailId, record);
  return record;
}

/** digest = sha256(prevDigest || hash_1 || ... || hash_n) over the events in (fromSeq, uptoSeq] in seq order. */
async function digestInterval(db: SqlClient, prevDigest: string | null, fromSeq: number, uptoSeq: number) {
  const h = createHash('sha256').update(prevDigest ?? '');
  const missing: number[] = [];
  let overflow = false;
  let count = 0;
  let expected = fromSeq + 1;
  const skipTo = (seq: number) => {
    for (; expected < seq && !overflow; expected++) {
      if (missing.length === MAX_LISTED_MISSING) overflow = true;
      else missing.push(expected);
    }
    expected = Math.max(expected, seq);
  };
  for (let after = fromSeq; ; ) {
    const res = await db.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM audit_events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3',
      [after, uptoSeq, BATCH],
    );
    for (const r of res.rows) {
      const seq = Number(r.seq);
      skipTo(seq);
      expected = seq + 1;
      h.update(r.hash);
      count++;
    }
    if (res.rows.length < BATCH) break;
    after = Number(res.rows[res.rows.length - 1].seq);
  }
  skipTo(uptoSeq + 1);
  return { digest: h.digest('hex'), count, missing: overflow ? null : missing };
}

export interface Checkpointer {
  /** Takes a checkpoint now (after any run in progress). */
  runOnce(): Promise<CheckpointRecord | null>;
  /** Stops the timer and waits for a run in progress; `seal: true` takes a last checkpoint first. */
  stop(opts?: { seal?: boolean }): Promise<void>;
}

/**
 * Takes a checkpoint every `intervalMs` (skipped when nothing new was appended); 0 disables the
 * timer. Errors are logged and retried on the next tick: a failed checkpoint never stops writers.
 * Call `stop()` before closing the database.
 */
export function startCheckpointer(db: Database, signer: CheckpointSigner, intervalMs: number, log: Logger): Checkpointer {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CheckpointRecord | null> = Promise.resolve(null);
  const run = (): Promise<CheckpointRecord | null> => {
    running = running.then(
      () => createCheckpoint(db, signer),
      () => createCheckpoint(db, signer),
    );
    running.then(
      (c) => c && log.debug('audit checkpoint', { id: c.id, uptoSeq: c.uptoSeq, eventCount: c.eventCount }),
      (err) => log.error('audit checkpoint failed', { error: (err as Error).message }),
    );
    return running;
  };
  const schedule = () => {
    if (stopped || intervalMs <= 0) return;
    timer = setTimeout(() => {
      run().catch(() => undefined).finally(schedule);
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    runOnce: run,
    async stop(opts = {}) {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (opts.seal) await run().catch(() => undefined);
      await running.catch(() => undefined);
    },
  };
}
