/**
 * One load run: autocannon with keep-alive connections, each connection signed in as its own
 * user, every response checked. A fast error must not count as throughput, so req/s counts only
 * responses that passed the check.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  body: string;
  /** Headers for connection i (its user's token). */
  headersFor(i: number): Record<string, string>;
  /** Whether connection i's response is right. */
  check(i: number, status: number, body: string): boolean;
}

export interface LoadResult {
  ok: number;
  bad: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  max: number;
  firstBad?: string;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  let next = 0;
  let ok = 0;
  let bad = 0;
  let firstBad: string | undefined;
  const started = Date.now();
  const result = await autocannon({
    url: opts.url,
    method: 'POST',
    body: opts.body,
    connections: opts.connections,
    duration: opts.durationS,
    // Latency of failed responses counts too: a slow 500 is still a slow request.
    excludeErrorStats: false,
    setupClient(client) {
      const i = next++;
      client.setHeaders({ 'content-type': 'application/json', ...opts.headersFor(i) });
      let chunks: Buffer[] = [];
      client.on('body', (chunk: Buffer) => chunks.push(chunk));
      client.on('response', (status: number) => {
        const body = Buffer.concat(chunks).toString('utf8');
        chunks = [];
        if (opts.check(i, status, body)) ok++;
        else {
          bad++;
          firstBad ??= `HTTP ${status}: ${body.slice(0, 300)}`;
        }
      });
    },
  });
  const seconds = (Date.now() - started) / 1000;
  bad += result.errors + result.timeouts;
  if (result.errors + result.timeouts > 0) firstBad ??= `${result.errors} connection errors, ${result.timeouts} timeouts`;
  return { ok, bad, reqPerSec: ok / seconds, p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, firstBad };
}
