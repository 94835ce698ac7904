import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export interface Closed {
  code: number;
  reason: string;
}

/** One graphql-ws subscription over a real socket, with everything it received recorded. */
export interface RecordedSubscription<T = any> {
  results: FormattedExecutionResult<T, unknown>[];
  /** What the sink's error received: GraphQL errors (an array) or the socket's close event. */
  errors: unknown[];
  closes: Closed[];
  completed: boolean;
  /** Waits until `done()` holds; fails with `what` and what was recorded if it never does. */
  until(done: () => boolean, what: string, maxMs?: number): Promise<void>;
  dispose(): Promise<void>;
}

export interface ConnectOptions {
  /** Omitted: no connectionParams at all (an anonymous socket). */
  token?: string;
  lazy?: boolean;
}

export function connect(port: number, opts: ConnectOptions, onClosed: (c: Closed) => void, onNonLazyError?: (e: unknown) => void): Client {
  return createClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: opts.token === undefined ? undefined : { authorization: `Bearer ${opts.token}` },
    retryAttempts: 0,
    lazy: opts.lazy ?? true,
    onNonLazyError: onNonLazyError ?? (() => undefined),
    on: {
      closed: (event) => {
        const e = event as { code: number; reason: string | Buffer };
        onClosed({ code: e.code, reason: String(e.reason) });
      },
    },
  });
}

export function subscribe<T = any>(port: number, opts: ConnectOptions, query: string, variables: Record<string, unknown> = {}): RecordedSubscription<T> {
  const rec = { results: [] as FormattedExecutionResult<T, unknown>[], errors: [] as unknown[], closes: [] as Closed[], completed: false };
  const client = connect(port, opts, (c) => rec.closes.push(c));
  const unsubscribe = client.subscribe<T>({ query, variables }, {
    next: (r) => rec.results.push(r),
    error: (e) => rec.errors.push(e),
    complete: () => (rec.completed = true),
  });
  return Object.assign(rec, {
    async until(done: () => boolean, what: string, maxMs = 15_000) {
      const deadline = Date.now() + maxMs;
      while (!done()) {
        if (Date.now() > deadline) {
          throw new Error(`gave up waiting for ${what}; recorded ${JSON.stringify({ results: rec.results, errors: rec.errors, closes: rec.closes })}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async dispose() {
      unsubscribe();
      await client.dispose();
    },
  });
}

/** The GraphQL errors a subscription received, whether sent as `error` or inside `next`. */
export function graphqlErrors(sub: RecordedSubscription): { message: string; extensions?: Record<string, unknown> }[] {
  const fromError = sub.errors.filter(Array.isArray).flat() as { message: string; extensions?: Record<string, unknown> }[];
  const fromNext = sub.results.flatMap((r) => (r.errors ?? []) as { message: string; extensions?: Record<string, unknown> }[]);
  return [...fromError, ...fromNext];
}

/** Sends connection_init with `token` on a raw socket (with `headers` on the upgrade) and resolves with how the server closed it. */
export function closeAfterInit(port: number, headers: Record<string, string>, token: string): Promise<Closed> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { headers });
  ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
  return new Promise((resolve, reject) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', reject);
  });
}
