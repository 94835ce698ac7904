/**
 * Keyset pagination at 1,000 and at 1,000,000 jobs: first-page and deep-page latency of the
 * service's own queries (JobsService.list, listAuditEvents), their ratio, and EXPLAIN for each.
 * A page must cost the same at any table size and any depth; a ratio far above 1 or a Seq Scan /
 * Sort in a plan means an index is missing.
 * Usage: npx tsx bench/pagination.ts [runs=41]
 */
import { listAuditEvents, type AuditFilter } from '../src/audit/queries';
import { JobsService } from '../src/jobs/service';
import type { JobStatus } from '../src/jobs/types';
import { statementText, type Database } from '../src/store/database';
import { encodeCursor } from '../src/store/pagination';
import { openPostgres } from '../src/store/postgres';
import { elapsedMs, median, table, withBenchDatabase } from './lib/postgres';

const RUNS = Number(process.argv[2] ?? 41);
const PAGE = 20;
const SIZES = [1_000, 1_000_000];
const HEAVY = 'user_heavy';
const ARCHIVE = 'user_archive';
const NEWCOMER = 'user_newcomer';

// ~1,000 owners with a skewed spread (a few busy, many occasional), one owner with 10% of all
// jobs spread over time, one who submitted every 5th job of the first 500,000 and nothing since
// (where "scan newest-first and filter" reads half the table for one page of jobs), and one who
// arrived late and then submitted every 2nd job of the last 20% (the same trap for the
// oldest-first audit trail; the 1k round has its own late arrival, as its rows come first at 1M);
// statuses as a system that has run a while would hold them. Ordered by i so seq follows time.
const SEED_JOBS = `
INSERT INTO jobs (id, owner_id, title, urs_document, status, error, attempts, created_at, updated_at)
SELECT gen_random_uuid(),
       CASE WHEN i <= 500000 AND i % 5 = 0 THEN '${ARCHIVE}'
            WHEN i % 2 = 1 AND i > 800000 THEN '${NEWCOMER}' WHEN i % 2 = 1 AND i BETWEEN 801 AND 1000 THEN '${NEWCOMER}_1k' WHEN o.r < 0.1 THEN '${HEAVY}' ELSE 'user_' || lpad(floor(1000 * power(o.r2, 2))::int::text, 4, '0') END,
       'Batch record review ' || i,
       'URS-' || i || E' The system shall record every change with who, what, when and why.\\n' || repeat('Requirement text. ', 12),
       s.status, CASE WHEN s.status = 'FAILED' THEN 'processing failed' END,
       CASE WHEN s.status = 'PENDING' THEN 0 ELSE 1 END,
       timestamptz '2025-01-01' + i * interval '30 seconds', timestamptz '2025-01-01' + i * interval '30 seconds'
FROM generate_series($1::int, $2::int) i
CROSS JOIN LATERAL (SELECT random() + i * 0 AS r, random() + i * 0 AS r2) o
CROSS JOIN LATERAL (SELECT CASE WHEN x < 0.70 THEN 'COMPLETED' WHEN x < 0.82 THEN 'FAILED' WHEN x < 0.90 THEN 'CANCELLED'
                                WHEN x < 0.96 THEN 'PENDING' ELSE 'RUNNING' END AS status
                    FROM (SELECT random() + i * 0 AS x) y) s
ORDER BY i`;

// One job.created event per new job, and a job.cancelled event for each cancelled one.
const SEED_EVENTS = `
INSERT INTO audit_events (id, stream, stream_seq, action, occurred_at, actor_id, actor_email, job_id, reason, after, canonical, hash)
SELECT gen_random_uuid(), 'job:' || j.id, e.n, e.action, j.created_at, j.owner_id, j.owner_id || '@example.com', j.id, e.reason,
       jsonb_build_object('status', e.status, 'title', j.title), c.canonical, encode(sha256(convert_to(c.canonical, 'UTF8')), 'hex')
FROM jobs j
CROSS JOIN LATERAL (VALUES (1, 'job.created', 'PENDING', NULL), (2, 'job.cancelled', 'CANCELLED', 'no longer needed')) e(n, action, status, reason)
CROSS JOIN LATERAL (SELECT json_build_object('v', 1, 'stream', 'job:' || j.id, 'streamSeq', e.n, 'action', e.action,
                      'jobId', j.id, 'actorId', j.owner_id, 'occurredAt', j.created_at, 'after', json_build_object('status', e.status))::text AS canonical) c
WHERE j.seq > $1 AND (e.n = 1 OR j.status = 'CANCELLED')
ORDER BY e.n, j.seq`;

interface Case {
  name: string;
  /** Runs one page through the service; `after` is a cursor or null. */
  page(after: string | null): Promise<unknown>;
  /** A cursor PAGE+6 rows before the end of this list (or its first row, when it is shorter). */
  deepCursor(db: Database): Promise<string>;
}

function jobsCase(name: string, jobs: JobsService, ownerId: string | null, status: JobStatus | null): Case {
  return {
    name,
    page: (after) => jobs.list({ ownerId, status, first: PAGE, after }),
    async deepCursor(db) {
      const where = [ownerId && `owner_id = '${ownerId}'`, status && `status = '${status}'`].filter(Boolean);
      const res = await db.query<{ seq: string }>(
        `SELECT seq FROM (SELECT seq FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ASC LIMIT ${PAGE + 6}) s ORDER BY seq DESC LIMIT 1`,
      );
      return encodeCursor('job', res.rows[0].seq);
    },
  };
}

function auditCase(name: string, db: Database, filterFor: AuditFilter | (() => AuditFilter)): Case {
  const current = () => (typeof filterFor === 'function' ? filterFor() : filterFor);
  return {
    name,
    page: (after) => listAuditEvents(db, current(), PAGE, after),
    async deepCursor(d) {
      const filter = current();
      const where = [
        filter.actorId && `actor_id = '${filter.actorId}'`,
        filter.action && `action = '${filter.action}'`,
        filter.from && `occurred_at >= '${filter.from.toISOString()}'`,
      ].filter(Boolean);
      const res = await d.query<{ seq: string }>(
        `SELECT seq FROM (SELECT seq FROM audit_events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ${PAGE + 6}) s ORDER BY seq ASC LIMIT 1`,
      );
      return encodeCursor('audit', res.rows[0].seq);
    },
  };
}

/** The database the service sees, remembering the last statement so EXPLAIN runs exactly that SQL. */
function recording(db: Database): { db: Database; last: () => { text: string; params: readonly unknown[] } } {
  let last = { text: '', params: [] as readonly unknown[] };
  return {
    db: { ...db, query: (statement, params = []) => ((last = { text: statementText(statement), params }), db.query(statement, params)) },
    last: () => last,
  };
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(elapsedMs(t));
  }
  return median(samples);
}

interface Measured {
  /** Client-observed median, round trip included. */
  ms: number;
  /** EXPLAIN ANALYZE of the same statement: server execution time and buffers touched. */
  execMs: number;
  buffers: number;
  plan: string;
}

async function measure(raw: Database, rec: ReturnType<typeof recording>, page: () => Promise<unknown>): Promise<Measured> {
  const ms = await timeIt(page);
  await page();
  const { text, params } = rec.last();
  const res = await raw.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text}`, params);
  const plan = res.rows.map((r) => r['QUERY PLAN']);
  // The first Buffers line belongs to the top node and so counts everything below it.
  const buf = /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(plan.join('\n'));
  return {
    ms,
    execMs: Number(/Execution Time: ([\d.]+)/.exec(plan.join('\n'))?.[1] ?? NaN),
    buffers: Number(buf?.[1] ?? 0) + Number(buf?.[2] ?? 0),
    plan: plan.filter((l) => !/^(Planning|Execution)/.test(l.trim())).join('\n'),
  };
}

async function main(): Promise<void> {
  await withBenchDatabase('pagination bench', async (url) => {
    const raw = await openPostgres(url, { max: 2 });
    const rec = recording(raw);
    const jobs = new JobsService(rec.db);
    let size = 0;
    let recentFrom = new Date();
    const cases: Case[] = [
      jobsCase(`jobs: owner (${HEAVY}, 10% of rows)`, jobs, HEAVY, null),
      jobsCase('jobs: owner + status FAILED', jobs, HEAVY, 'FAILED'),
      jobsCase(`jobs: owner with only old jobs (${ARCHIVE})`, jobs, ARCHIVE, null),
      jobsCase('jobs: auditor, all jobs', jobs, null, null),
      jobsCase('jobs: auditor, status PENDING', jobs, null, 'PENDING'),
      auditCase('auditEvents: all', rec.db, {}),
      auditCase(`auditEvents: actor ${HEAVY}`, rec.db, { actorId: HEAVY }),
      auditCase(`auditEvents: actor with only recent events (${NEWCOMER})`, rec.db, () => ({ actorId: size === 1_000 ? `${NEWCOMER}_1k` : NEWCOMER })),
      auditCase('auditEvents: action job.cancelled', rec.db, { action: 'job.cancelled' }),
      auditCase('auditEvents: from (the last 1% of time)', rec.db, () => ({ from: recentFrom })),
    ];
    const results = new Map<string, { first: Measured; deep: Measured }[]>(cases.map((c) => [c.name, []]));
    try {
      let seeded = 0;
      for (size of SIZES) {
        const t = process.hrtime.bigint();
        const lastSeq = (await raw.query<{ m: string | null }>('SELECT max(seq) AS m FROM jobs')).rows[0].m ?? '0';
        await raw.query(SEED_JOBS, [seeded + 1, size]);
        await raw.query(SEED_EVENTS, [lastSeq]);
        await raw.query('VACUUM ANALYZE jobs');
        await raw.query('VACUUM ANALYZE audit_events');
        seeded = size;
        recentFrom = (await raw.query<{ t: Date }>(
          'SELECT occurred_at AS t FROM audit_events ORDER BY occurred_at DESC OFFSET (SELECT count(*) / 100 FROM audit_events) LIMIT 1',
        )).rows[0].t;
        const counts = (await raw.query<{ j: number; e: number; o: number }>(
          'SELECT (SELECT count(*) FROM jobs)::int AS j, (SELECT count(*) FROM audit_events)::int AS e, (SELECT count(DISTINCT owner_id) FROM jobs)::int AS o',
        )).rows[0];
        console.log(`seeded ${counts.j} jobs (${counts.o} owners) and ${counts.e} audit events in ${(elapsedMs(t) / 1000).toFixed(1)} s; VACUUM ANALYZE done`);
        for (const c of cases) {
          const cursor = await c.deepCursor(raw);
          const first = await measure(raw, rec, () => c.page(null));
          const deep = await measure(raw, rec, () => c.page(cursor));
          results.get(c.name)!.push({ first, deep });
        }
      }
    } finally {
      await raw.close();
    }

    const ms = (x: number) => x.toFixed(3);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    console.log(`\nclient latency in ms, median of ${RUNS} runs (after 5 warm-up runs), ${PAGE} rows per page, deep = the last page of the list`);
    console.log(
      table(
        ['list', '1k first', '1k deep', '1M first', '1M deep', '1M/1k first', '1M/1k deep'],
        cases.map((c) => {
          const [k, m] = results.get(c.name)!;
          return [c.name, ms(k.first.ms), ms(k.deep.ms), ms(m.first.ms), ms(m.deep.ms), ratio(m.first.ms, k.first.ms), ratio(m.deep.ms, k.deep.ms)];
        }),
      ),
    );
    console.log('\nserver side, from EXPLAIN (ANALYZE, BUFFERS) of the same statements: execution ms / buffers touched');
    console.log(
      table(
        ['list', '1k first', '1k deep', '1M first', '1M deep'],
        cases.map((c) => {
          const cells = results.get(c.name)!.flatMap((r) => [r.first, r.deep]);
          return [c.name, ...cells.map((x) => `${ms(x.execMs)} / ${x.buffers}`)];
        }),
      ),
    );
    console.log('\nplans at 1M, the SQL the service ran (first page, then deep page):');
    for (const c of cases) {
      const m = results.get(c.name)![SIZES.length - 1];
      for (const [which, x] of [['first', m.first], ['deep', m.deep]] as const) {
        // A Sort over a bounded index range is fine; reading far more pages than a page of rows is not.
        const unbounded = /Seq Scan/.test(x.plan) || x.buffers > 10 * PAGE;
        console.log(`\n-- ${c.name}, ${which} page${unbounded ? `   <-- UNBOUNDED: ${x.buffers} buffers for ${PAGE} rows` : ''}\n${x.plan.replace(/^/gm, '   ')}`);
      }
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
