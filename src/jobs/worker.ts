import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { SYSTEM_WORKER } from '../audit/event';
import type { Logger } from '../log';
import { metrics } from '../metrics';
import type { Database } from '../store/database';
import type { JobsService } from './service';
import { JOB_UPDATED_CHANNEL } from './types';
import { generateTestCases, UrsProcessingError } from './urs';

export interface WorkerOptions {
  concurrency: number;
  pollMs: number;
  /** RUNNING jobs untouched this long are taken to be abandoned by a dead worker. */
  leaseSeconds?: number;
  process?: (document: string) => unknown;
}

export interface Worker {
  stop(): Promise<void>;
  /** Resolves when the queue was empty at least once after the call (tests use it to wait). */
  drain(): Promise<void>;
}

/**
 * Moves PENDING jobs to RUNNING and then COMPLETED or FAILED, each step audited as
 * `system:worker`. Wakes on the job_updated notification and polls as a fallback.
 */
export async function startWorker(db: Database, jobs: JobsService, log: Logger, opts: WorkerOptions): Promise<Worker> {
  const workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const processDocument = opts.process ?? generateTestCases;
  let stopped = false;
  let wake: (() => void) | null = null;
  const idleWaiters: (() => void)[] = [];
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => { wake = null; resolve(); }, ms);
      wake = () => { clearTimeout(t); wake = null; resolve(); };
    });
  const unlisten = await db.listen(JOB_UPDATED_CHANNEL, () => wake?.());

  async function runOne(): Promise<boolean> {
    const job = await jobs.claimNext(SYSTEM_WORKER, workerId);
    if (!job) return false;
    let outcome: { result: unknown } | { error: string };
    try {
      outcome = { result: await processDocument(job.ursDocument ?? '') };
    } catch (err) {
      outcome = { error: err instanceof UrsProcessingError ? err.message : 'Processing failed unexpectedly. Submit the job again.' };
      if (!(err instanceof UrsProcessingError)) log.error('job processing failed', { jobId: job.id, err });
    }
    const finished = await jobs.finish(SYSTEM_WORKER, job.id, outcome);
    metrics.workerOutcome(!finished ? 'superseded' : 'error' in outcome ? 'failed' : 'completed');
    return true;
  }

  async function loop(): Promise<void> {
    let sinceSweep = 0;
    while (!stopped) {
      try {
        if (++sinceSweep >= 30) {
          sinceSweep = 0;
          metrics.workerOutcome('abandoned', await jobs.failAbandoned(SYSTEM_WORKER, opts.leaseSeconds ?? 300));
        }
        const ran = await Promise.all(Array.from({ length: opts.concurrency }, runOne));
        if (ran.some(Boolean)) continue;
        idleWaiters.splice(0).forEach((w) => w());
        if (!stopped) await sleep(opts.pollMs);
      } catch (err) {
        if (stopped) break;
        metrics.workerError();
        log.error('worker loop error', { err });
        await sleep(opts.pollMs);
      }
    }
  }
  const running = loop();
  log.info('worker started', { workerId, concurrency: opts.concurrency });

  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await unlisten();
      idleWaiters.splice(0).forEach((w) => w());
    },
    drain() {
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        wake?.();
      });
    },
  };
}
