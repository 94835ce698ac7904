import { parentPort } from 'node:worker_threads';
import { startModuleThread } from '../../../threads';

/** Worker threads running one module, each request answered by the worker it was sent to. */
export interface WorkerPool<Req, Res> {
  readonly size: number;
  /** Every worker has loaded its module and is serving (they take tens of milliseconds to start). */
  ready(): boolean;
  readonly started: Promise<void>;
  /** Sends to the next worker in turn; `transfer`: buffers moved to it rather than copied. */
  run(req: Req, transfer?: ArrayBuffer[]): Promise<Res>;
  close(): Promise<void>;
}

/** `n` workers running `<name>.ts` or `<name>.js` beside this file (which calls serveRequests). */
export function workerPool<Req, Res>(name: string, n: number): WorkerPool<Req, Res> {
  type Pending = { resolve: (v: Res) => void; reject: (e: Error) => void };
  let started = 0;
  let allStarted!: () => void;
  const startedPromise = new Promise<void>((resolve) => (allStarted = resolve));
  const workers = Array.from({ length: n }, () => {
    const w = startModuleThread(__filename, name);
    const pending = new Map<number, Pending>();
    w.on('message', (m: { id: number; res?: Res; error?: string; ready?: true }) => {
      if (m.ready) {
        if (++started === n) allStarted();
        return;
      }
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.res as Res);
    });
    const fail = (err: Error) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`${name} worker exited (code ${code})`)));
    return { w, pending };
  });
  let next = 0;
  let ids = 0;
  return {
    size: n,
    ready: () => started === n,
    started: startedPromise,
    run(req, transfer) {
      const slot = workers[next++ % workers.length];
      const id = ids++;
      return new Promise((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.w.postMessage({ id, req }, transfer);
      });
    },
    async close() {
      await Promise.all(workers.map(({ w }) => w.terminate()));
    },
  };
}

/** The worker side: answers each request with `handle`'s result, or its error's message. */
export function serveRequests<Req, Res>(handle: (req: Req) => Res): void {
  parentPort?.postMessage({ ready: true });
  parentPort?.on('message', ({ id, req }: { id: number; req: Req }) => {
    try {
      parentPort!.postMessage({ id, res: handle(req) });
    } catch (err) {
      parentPort!.postMessage({ id, error: (err as Error).message });
    }
  });
}
