import { canonicalFields } from '../src/audit/event';
import { randomUUID } from 'node:crypto';
import { canonicalJson, sha256Hex } from '../src/audit/canonical';
import type { AuditEventRecord } from '../src/audit/event';
import type { SqlClient } from '../src/store/database';

type Draft = Omit<AuditEventRecord, 'seq' | 'canonical' | 'hash'>;

interface Live {
  jobId: string;
  streamSeq: number;
  prevHash: string | null;
}

/**
 * Generates a realistic trail fast: jobs created, started and completed (3 events each),
 * interleaved across a window of concurrently active jobs, plus one access denial in 20.
 * Canonical text and hash are built exactly as appendEvent builds them, so verify accepts them.
 * State carries over between calls, so a trail can be grown in steps.
 */
export class TrailSeeder {
  private live: Live[] = [];
  private denials = new Map<string, { streamSeq: number; prevHash: string }>();
  private n = 0;
  private readonly t0 = Date.parse('2025-01-01T00:00:00.000Z');

  constructor(private readonly window = 200) {}

  private next(): Draft {
    const i = this.n++;
    const occurredAt = new Date(this.t0 + i * 500); // ~173k events per simulated day: several day files
    const actor = {
      actorId: `user_${i % 97}`,
      actorEmail: `user${i % 97}@example.com`,
      sessionId: `sess_${i % 389}`,
      tokenIssuedAt: new Date(this.t0 + Math.floor(i / 50) * 1000),
      impersonatorId: null,
      requestId: `req_${i}`,
      ip: '10.0.0.1',
      userAgent: 'bench',
    };
    if (i % 20 === 19) {
      const stream = `actor:${actor.actorId}`;
      const head = this.denials.get(stream);
      return { id: randomUUID(), stream, streamSeq: (head?.streamSeq ?? 0) + 1, prevHash: head?.prevHash ?? null, action: 'access.denied', occurredAt, ...actor, jobId: null, reason: null, before: null, after: { operation: 'read' } };
    }
    if (this.live.length < this.window) this.live.push({ jobId: randomUUID(), streamSeq: 0, prevHash: null });
    const slot = i % this.live.length;
    const job = this.live[slot];
    const step = job.streamSeq + 1;
    const [action, before, after] =
      step === 1
        ? ['job.created', null, { status: 'PENDING', title: `Job ${i}`, error: null, ursDocumentBytes: 2048 }]
        : step === 2
          ? ['job.started', { status: 'PENDING', title: 'Job', error: null }, { status: 'RUNNING', title: 'Job', error: null }]
          : ['job.completed', { status: 'RUNNING', title: 'Job', error: null }, { status: 'COMPLETED', title: 'Job', error: null, testCaseCount: 12 }];
    const system = step > 1 ? { actorId: 'system:worker', actorEmail: null, sessionId: null, tokenIssuedAt: null, requestId: null, ip: null, userAgent: null } : {};
    const d: Draft = {
      id: randomUUID(),
      stream: `job:${job.jobId}`,
      streamSeq: step,
      prevHash: job.prevHash,
      action,
      occurredAt,
      ...actor,
      ...system,
      jobId: job.jobId,
      reason: null,
      before,
      after,
    } as Draft;
    return d;
  }

  private commit(d: Draft, hash: string): void {
    if (d.jobId) {
      const slot = this.live.findIndex((l) => l.jobId === d.jobId);
      if (d.streamSeq === 3) this.live.splice(slot, 1);
      else this.live[slot] = { jobId: d.jobId, streamSeq: d.streamSeq, prevHash: hash };
    } else {
      this.denials.set(d.stream, { streamSeq: d.streamSeq, prevHash: hash });
    }
  }

  /** Appends `count` events with multi-row inserts of `batch` rows (unnest of column arrays). */
  async seed(db: SqlClient, count: number, batch = 5000): Promise<void> {
    for (let done = 0; done < count; ) {
      const rows: (Draft & { canonical: string; hash: string })[] = [];
      for (let k = 0; k < Math.min(batch, count - done); k++) {
        const d = this.next();
        const canonical = canonicalJson(canonicalFields(d));
        const hash = sha256Hex(canonical);
        this.commit(d, hash);
        rows.push({ ...d, canonical, hash });
      }
      const col = <T>(f: (r: (typeof rows)[number]) => T) => rows.map(f);
      const iso = (x: Date | null) => (x ? x.toISOString() : null);
      const json = (x: unknown) => (x === null || x === undefined ? null : JSON.stringify(x));
      await db.query(
        `INSERT INTO audit_events (id, stream, stream_seq, action, occurred_at, actor_id, actor_email, session_id, token_iat,
           impersonator_id, job_id, reason, before, after, request_id, ip, user_agent, canonical, hash, prev_hash)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::text[],
           $9::timestamptz[], $10::text[], $11::uuid[], $12::text[], $13::jsonb[], $14::jsonb[], $15::text[], $16::text[], $17::text[],
           $18::text[], $19::text[], $20::text[])`,
        [
          col((r) => r.id), col((r) => r.stream), col((r) => r.streamSeq), col((r) => r.action), col((r) => iso(r.occurredAt)),
          col((r) => r.actorId), col((r) => r.actorEmail), col((r) => r.sessionId), col((r) => iso(r.tokenIssuedAt)),
          col((r) => r.impersonatorId), col((r) => r.jobId), col((r) => r.reason), col((r) => json(r.before)), col((r) => json(r.after)),
          col((r) => r.requestId), col((r) => r.ip), col((r) => r.userAgent), col((r) => r.canonical), col((r) => r.hash), col((r) => r.prevHash),
        ],
      );
      done += rows.length;
    }
  }
}
