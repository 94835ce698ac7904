/**
 * Audited write throughput on PostgreSQL, 8 concurrent writers, all variants in the same run:
 *   (a) createJob through JobsService as shipped (job row + audit event on a per-job chain);
 *   (b) baseline: the same two inserts, same row shapes, event hashed but not chained;
 *   (c) reference: one global chain (lock a single head row FOR UPDATE, hash, insert, update head).
 * Variants alternate (a b c, then c b a, ...) so drift in the machine or the growing tables hits
 * all of them alike. Target: a/b >= 0.9.
 * Usage: npx tsx bench/auditedWrites.ts [seconds-per-variant-and-round=3] [rounds=4]
 */
import { canonicalFields } from '../src/audit/event';
import { createHash, randomUUID } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../src/audit/canonical';
import type { AuditActor } from '../src/audit/event';
import { JobsService } from '../src/jobs/service';
import { auditSnapshot, jobRowToRecord, JOB_COLUMNS, type JobRecord } from '../src/jobs/types';
import type { SqlClient } from '../src/store/database';
import { openPostgres } from '../src/store/postgres';
import { median, table, withBenchDatabase } from './lib/postgres';

const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 4);
const WRITERS = 8;
const DOC = 'URS-001 The system shall record every change with who, what, when and why.\n'.repeat(6);
const NOW_MS = "date_trunc('milliseconds', now())";

const actorFor = (w: number): AuditActor => ({
  actorId: `user_w${w}`,
  actorEmail: `w${w}@example.com`,
  sessionId: `sess_w${w}`,
  tokenIssuedAt: new Date(),
  impersonatorId: null,
  requestId: null,
  ip: '127.0.0.1',
  userAgent: 'bench',
});

async function insertJob(tx: SqlClient, actor: AuditActor, title: string): Promise<JobRecord> {
  const res = await tx.query(
    `INSERT INTO jobs (id, owner_id, title, urs_document, status, created_at, updated_at)
     VALUES ($1, $2, $3, $4, 'PENDING', ${NOW_MS}, ${NOW_MS}) RETURNING ${JOB_COLUMNS}`,
    [randomUUID(), actor.actorId, title, DOC],
  );
  return jobRowToRecord(res.rows[0]);
}

/** The audit row exactly as the trail writes it, for a given stream position and predecessor. */
async function insertEvent(tx: SqlClient, actor: AuditActor, job: JobRecord, stream: string, streamSeq: number, prevHash: string | null): Promise<string> {
  const e = {
    id: randomUUID(), stream, streamSeq, prevHash, action: 'job.created', occurredAt: job.createdAt,
    actorId: actor.actorId, actorEmail: actor.actorEmail, sessionId: actor.sessionId, tokenIssuedAt: actor.tokenIssuedAt,
    impersonatorId: null, jobId: job.id, reason: null, before: null,
    after: { ...auditSnapshot(job), ursDocumentSha256: createHash('sha256').update(DOC).digest('hex'), ursDocumentBytes: Buffer.byteLength(DOC), idempotencyKey: null },
    requestId: null, ip: actor.ip, userAgent: actor.userAgent,
  };
  const canonical = canonicalJson(canonicalFields(e));
  const hash = sha256Hex(canonical);
  await tx.query(
    `INSERT INTO audit_events (id, stream, stream_seq, action, occurred_at, actor_id, actor_email, session_id,
       token_iat, impersonator_id, job_id, reason, before, after, request_id, ip, user_agent, canonical, hash, prev_hash)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)`,
    [e.id, stream, streamSeq, e.action, e.occurredAt, e.actorId, e.actorEmail, e.sessionId, e.tokenIssuedAt, null, e.jobId,
      null, null, JSON.stringify(e.after), null, e.ip, e.userAgent, canonical, hash, prevHash],
  );
  return hash;
}

type Variant = 'a' | 'b' | 'c';
const LABELS: Record<Variant, string> = {
  a: '(a) audited createJob, JobsService (per-job chain)',
  b: '(b) same two inserts, no chain (baseline)',
  c: '(c) one global chain (head row FOR UPDATE)',
};

async function main(): Promise<void> {
  await withBenchDatabase('audited write bench', async (url) => {
    const db = await openPostgres(url, { max: WRITERS });
    const jobs = new JobsService(db);
    await db.exec(`CREATE TABLE bench_chain_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text);
                   INSERT INTO bench_chain_head VALUES (1, 0, NULL);`);
    let n = 0;
    const write: Record<Variant, (w: number) => Promise<unknown>> = {
      a: (w) => jobs.create(actorFor(w), { title: `bench ${n++}`, ursDocument: DOC }),
      b: (w) =>
        db.transaction(async (tx) => {
          const actor = actorFor(w);
          const job = await insertJob(tx, actor, `bench ${n++}`);
          await insertEvent(tx, actor, job, `nochain:${job.id}`, 1, null);
        }),
      c: (w) =>
        db.transaction(async (tx) => {
          const actor = actorFor(w);
          // The job row first, so the head lock is held as briefly as a global chain allows.
          const job = await insertJob(tx, actor, `bench ${n++}`);
          const head = (await tx.query<{ seq: string; hash: string | null }>('SELECT seq, hash FROM bench_chain_head WHERE id = 1 FOR UPDATE')).rows[0];
          const seq = Number(head.seq) + 1;
          const hash = await insertEvent(tx, actor, job, 'global', seq, head.hash);
          await tx.query('UPDATE bench_chain_head SET seq = $1, hash = $2 WHERE id = 1', [seq, hash]);
        }),
    };
    const run = async (v: Variant): Promise<number> => {
      const until = Date.now() + SECONDS * 1000;
      let done = 0;
      const started = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          while (Date.now() < until) {
            await write[v](w);
            done++;
          }
        }),
      );
      return done / (Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      await run('b'); // warm-up: connections, plans, caches
      console.log(`${WRITERS} concurrent writers, pool of ${WRITERS} connections, ${SECONDS} s per variant and round, ${ROUNDS} rounds (a b c / c b a)`);
      const rates: Record<Variant, number[]> = { a: [], b: [], c: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const order: Variant[] = r % 2 === 0 ? ['a', 'b', 'c'] : ['c', 'b', 'a'];
        for (const v of order) {
          rates[v].push(await run(v));
          console.log(`  round ${r + 1} ${LABELS[v]}: ${rates[v][r].toFixed(0)} tx/s`);
        }
      }
      const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
      const problems = await chainCheck(db);
      console.log(
        '\n' +
          table(
            ['variant', 'tx/s (mean)', 'rounds'],
            (['a', 'b', 'c'] as const).map((v) => [LABELS[v], mean(rates[v]).toFixed(0), rates[v].map((x) => x.toFixed(0)).join(' / ')]),
          ),
      );
      const ratio = mean(rates.a) / mean(rates.b);
      const perRound = rates.a.map((x, i) => x / rates.b[i]);
      console.log(`\na/b = ${ratio.toFixed(3)} (target >= 0.9: ${ratio >= 0.9 ? 'met' : 'NOT MET'}); per round: ${perRound.map((x) => x.toFixed(3)).join(' / ')}, median ${median(perRound).toFixed(3)}`);
      console.log(`c/b = ${(mean(rates.c) / mean(rates.b)).toFixed(3)} (what one global chain costs)`);
      console.log(`global chain check after the run: ${problems}`);
    } finally {
      await db.close();
    }
  });
}

/** The global chain must be gap-free and linked, or (c) did not measure what it claims. */
async function chainCheck(db: SqlClient): Promise<string> {
  const res = await db.query<{ n: number; bad: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE stream_seq <> rn OR prev_hash IS DISTINCT FROM prev)::int AS bad FROM (
       SELECT stream_seq, prev_hash, row_number() OVER (ORDER BY stream_seq) AS rn, lag(hash) OVER (ORDER BY stream_seq) AS prev
       FROM audit_events WHERE stream = 'global') s`,
  );
  const { n, bad } = res.rows[0];
  return bad === 0 ? `${n} events, intact` : `${bad} of ${n} events out of place`;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
