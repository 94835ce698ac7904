import crypto, { randomUUID } from 'node:crypto';
import { createCheckpoint } from '../../src/audit/checkpoint/create';
import { journalFile, readJournal } from '../../src/audit/checkpoint/journal';
import { signerFromPem, type CheckpointSigner } from '../../src/audit/checkpoint/key';
import type { CheckpointRecord } from '../../src/audit/checkpoint/record';
import { trailIdOf } from '../../src/audit/identity';
import { canonicalJson, sha256Hex } from '../../src/audit/canonical';
import { appendEvent } from '../../src/audit/trail';
import { AUDIT_COLUMNS, SYSTEM_WORKER, auditRowToRecord, canonicalFields, EVENT_FIELDS, type AuditActor, type AuditEventRecord } from '../../src/audit/event';
import { JobsService } from '../../src/jobs/service';
import type { Database, SqlClient } from '../../src/store/database';

export const ALICE: AuditActor = {
  actorId: 'user_alice',
  actorEmail: 'alice@example.com',
  sessionId: 'sess_alice',
  tokenIssuedAt: new Date('2025-01-02T03:04:05.000Z'),
  impersonatorId: null,
  requestId: 'req_1',
  ip: '127.0.0.1',
  userAgent: 'jest',
};
export const BOB: AuditActor = { ...ALICE, actorId: 'user_bob', actorEmail: 'bob@example.com', sessionId: 'sess_bob' };
const URS = 'URS-001 The system shall record who changed what.\nURS-002 The system shall keep every record.';

export function newSigner(journalDir?: string): CheckpointSigner {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  return signerFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), journalDir);
}

/** The checkpoints `signer` journaled for the trail in `db`. */
export async function journaled(signer: CheckpointSigner, db: SqlClient): Promise<CheckpointRecord[]> {
  const trailId = (await trailIdOf(db))!;
  return (await readJournal(journalFile(signer.journalDir!, trailId))).get(trailId) ?? [];
}

/** Names the jobs so tests can find their streams: `job:${jobs.A}`. */
export interface SeededTrail {
  jobs: Record<'A' | 'B' | 'C' | 'D' | 'E' | 'F', string>;
  /** A seq a rolled-back transaction consumed inside checkpoint #2's interval. */
  unusedSeq: number;
}

/**
 * A realistic small trail, all through the real service: three sealed intervals' worth of work.
 *   checkpoint #1: A created/started/completed, B created/cancelled, C created, Bob denied on A
 *   checkpoint #2: D created, C started/failed, Bob denied again, a rolled-back append (unused seq), E created
 *   unsealed:      F created, D started
 */
export async function seedTrail(db: Database, signer: CheckpointSigner): Promise<SeededTrail> {
  const svc = new JobsService(db);
  const create = async (title: string) => (await svc.create(ALICE, { title, ursDocument: URS })).id;
  const A = await create('Job A');
  const B = await create('Job B');
  const C = await create('Job C');
  await svc.claimNext(SYSTEM_WORKER, 'worker-1');
  await svc.finish(SYSTEM_WORKER, A, { result: { testCases: [] } });
  await svc.cancel(ALICE, B, 'Submitted the wrong document', { asAdmin: false });
  await svc.recordDenied(BOB, { jobId: A, operation: 'read' });
  await createCheckpoint(db, signer);

  const D = await create('Job D');
  await svc.claimNext(SYSTEM_WORKER, 'worker-1'); // C (oldest pending)
  await svc.finish(SYSTEM_WORKER, C, { error: 'URS could not be parsed' });
  await svc.recordDenied(BOB, { jobId: C, operation: 'cancel' });
  const unusedSeq = await rolledBackAppend(db);
  const E = await create('Job E');
  await createCheckpoint(db, signer);

  const F = await create('Job F');
  await svc.claimNext(SYSTEM_WORKER, 'worker-1'); // D
  return { jobs: { A, B, C, D, E, F }, unusedSeq };
}

/** A request that failed after its audit append: the identity value is used up, the event never existed. */
async function rolledBackAppend(db: Database): Promise<number> {
  let seq = 0;
  await db
    .transaction(async (tx) => {
      const e = await appendEvent(tx, { stream: 'actor:user_bob', mode: 'shared', action: 'access.denied', occurredAt: new Date(), actor: BOB });
      seq = Number(e.seq);
      throw new Error('rolled back');
    })
    .catch(() => undefined);
  return seq;
}

export async function eventAt(db: SqlClient, stream: string, streamSeq: number): Promise<AuditEventRecord> {
  const res = await db.query(`SELECT ${AUDIT_COLUMNS} FROM audit_events WHERE stream = $1 AND stream_seq = $2`, [stream, streamSeq]);
  if (!res.rows[0]) throw new Error(`no event ${stream}#${streamSeq}`);
  return auditRowToRecord(res.rows[0]);
}

/** An event with some fields changed and its canonical text and hash recomputed, as a careful forger would. */
export function rehashed(e: AuditEventRecord, changes: Partial<AuditEventRecord>): AuditEventRecord {
  const next = { ...e, ...changes };
  const canonical = canonicalJson(canonicalFields(next));
  return { ...next, canonical, hash: sha256Hex(canonical) };
}

export function forged(after: AuditEventRecord, changes: Partial<AuditEventRecord>): AuditEventRecord {
  return rehashed({ ...after, id: randomUUID(), streamSeq: after.streamSeq + 1, prevHash: after.hash }, changes);
}

/** Writes an event row as-is, at a chosen seq (OVERRIDING SYSTEM VALUE) or at the next identity value. */
export async function insertRaw(tx: SqlClient, e: AuditEventRecord, seq?: number): Promise<number> {
  const cols = [...EVENT_FIELDS.map((f) => f.column), 'canonical', 'hash'].join(', ');
  const params: unknown[] = [
    ...EVENT_FIELDS.map((f) => (f.kind === 'json' ? (e[f.key] === null ? null : JSON.stringify(e[f.key])) : e[f.key])),
    e.canonical,
    e.hash,
  ];
  const placeholders = params.map((_, i) => `$${i + 1}`).join(',');
  const res = await tx.query<{ seq: string }>(
    seq === undefined
      ? `INSERT INTO audit_events (${cols}) VALUES (${placeholders}) RETURNING seq`
      : `INSERT INTO audit_events (seq, ${cols}) OVERRIDING SYSTEM VALUE VALUES ($${params.length + 1}, ${placeholders}) RETURNING seq`,
    seq === undefined ? params : [...params, seq],
  );
  return Number(res.rows[0].seq);
}

class Rollback<T> extends Error {
  constructor(readonly value: T) {
    super('rollback');
  }
}

/** An attack that swaps two events' seqs (delete both, insert each at the other's seq), triggers being off. */
export const swapSeqs =
  (x: AuditEventRecord, y: AuditEventRecord) =>
  async (tx: SqlClient): Promise<void> => {
    await tx.query('DELETE FROM audit_events WHERE id = ANY($1::uuid[])', [[x.id, y.id]]);
    await insertRaw(tx, x, Number(y.seq));
    await insertRaw(tx, y, Number(x.seq));
  };

/**
 * Tampers as someone with database access would (append-only triggers switched off), checks,
 * and rolls everything back, so each attack starts from the same intact trail.
 */
export async function underAttack<T>(db: Database, attack: (tx: SqlClient) => Promise<void>, check: (tx: SqlClient) => Promise<T>): Promise<T> {
  try {
    await db.transaction(async (tx) => {
      await tx.query('ALTER TABLE audit_events DISABLE TRIGGER ALL');
      await tx.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL');
      await attack(tx);
      throw new Rollback(await check(tx));
    });
  } catch (err) {
    if (err instanceof Rollback) return err.value as T;
    throw err;
  }
  throw new Error('unreachable');
}
