import { loadConfig } from '../src/config';
import { ConfigError } from '../src/errors';
import { startWorker } from '../src/jobs/worker';
import { createLogger } from '../src/log';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { startTestServer, type TestServer } from './helpers/server';
import { describeStore, STORE_KINDS } from './helpers/stores';

const CREATE = 'mutation CreateMetrics($input: CreateJobInput!) { createJob(input: $input) { id } }';
const VIEWER = 'query Me { viewer { userId } }';

/** The value of one sample of the exposition text: `name` with at least these labels; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.split(',').includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return 0;
}

async function scrape(s: TestServer): Promise<string> {
  const res = await fetch(s.metricsUrl!);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
}

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    let s: TestServer;
    beforeAll(async () => {
      store = await openStore(kind);
      // The worker stays off until the test starts one, so the queue can be seen waiting.
      s = await startTestServer({ METRICS_PORT: '0', RATE_LIMIT_PER_MINUTE: '3' }, { db: store.db });
    });
    afterAll(async () => {
      await s?.close();
      await store?.close();
    });

    test('/metrics on its own port; the counts move with traffic, the queue and the worker', async () => {
      expect(new URL(s.metricsUrl!).port).not.toBe(String(s.port));
      const before = await scrape(s);
      const user = await s.token('user_metrics');
      for (const title of ['first', 'second']) {
        const res = await s.gql(CREATE, { input: { title, ursDocument: 'URS-001 The system shall be measured.' } }, user);
        expect(res.body.errors).toBeUndefined();
      }
      expect((await s.gql(VIEWER, {}, null, { authorization: 'Bearer not-a-jwt' })).status).toBe(401);
      const spammer = await s.token('user_spammer');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await s.gql(VIEWER, {}, spammer)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);

      const waiting = await scrape(s);
      const moved = (name: string, labels: Record<string, string> = {}) => sample(waiting, name, labels) - sample(before, name, labels);
      expect(moved('jobledger_http_request_duration_seconds_count', { route: '/graphql', operation: 'CreateMetrics', outcome: 'ok' })).toBe(2);
      expect(moved('jobledger_http_request_duration_seconds_count', { route: '/graphql', operation: 'Me', outcome: 'ok' })).toBe(3);
      expect(moved('jobledger_http_request_duration_seconds_count', { route: '/graphql', operation: 'none', outcome: 'RATE_LIMITED' })).toBe(1);
      expect(moved('jobledger_http_request_duration_seconds_count', { route: '/graphql', operation: 'none', outcome: 'UNAUTHENTICATED' })).toBe(1);
      expect(moved('jobledger_auth_failures_total', { reason: 'token-malformed' })).toBe(1);
      expect(moved('jobledger_rate_limited_total', { kind: 'request' })).toBe(1);
      expect(moved('jobledger_audit_append_duration_seconds_count')).toBe(2);
      expect(sample(waiting, 'jobledger_jobs_pending')).toBe(2);
      expect(sample(waiting, 'jobledger_jobs_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(0);
      expect(sample(waiting, 'jobledger_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
      expect(sample(waiting, 'jobledger_listen_connected')).toBe(1);
      expect(waiting).toMatch(/^nodejs_eventloop_lag_seconds \S+$/m);

      const worker = await startWorker(s.db, s.jobs, createLogger('silent'), { concurrency: 1, pollMs: 20 });
      try {
        await worker.drain();
        await worker.drain();
      } finally {
        await worker.stop();
      }
      const done = await scrape(s);
      expect(sample(done, 'jobledger_worker_jobs_total', { outcome: 'completed' }) - sample(waiting, 'jobledger_worker_jobs_total', { outcome: 'completed' })).toBe(2);
      expect(sample(done, 'jobledger_audit_append_duration_seconds_count') - sample(waiting, 'jobledger_audit_append_duration_seconds_count')).toBe(4);
      expect(sample(done, 'jobledger_jobs_pending')).toBe(0);
    });

    test('the API port does not serve /metrics, and the metrics port serves nothing else', async () => {
      expect((await fetch(new URL('/metrics', s.url))).status).toBe(404);
      expect((await fetch(new URL('/graphql', s.metricsUrl!))).status).toBe(404);
    });
  });
}

test('metrics are off unless METRICS_PORT is set', async () => {
  const s = await startTestServer();
  try {
    expect(s.metricsUrl).toBeNull();
    expect((await fetch(new URL('/metrics', s.url))).status).toBe(404);
  } finally {
    await s.close();
  }
});

test('METRICS_PORT and METRICS_HOST are validated with the other settings', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ NODE_ENV: 'test', ...env });
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };
  expect(problems({ METRICS_PORT: 'nine' })).toEqual([expect.stringContaining('METRICS_PORT must be a whole number')]);
  expect(problems({ METRICS_HOST: '0.0.0.0' })).toEqual([expect.stringContaining('METRICS_PORT')]);
  expect(problems({ PORT: '4000', METRICS_PORT: '4000' })).toEqual([expect.stringContaining('METRICS_PORT must differ from PORT')]);
  expect(loadConfig({ NODE_ENV: 'test', HOST: '0.0.0.0', METRICS_PORT: '9464' }).metrics).toEqual({ host: '0.0.0.0', port: 9464 });
  expect(problems({ LOG_LEVEL: 'verbose' })).toEqual([expect.stringContaining('LOG_LEVEL must be one of debug, info, warn, error, silent')]);
  expect(problems({ LOG_FORMAT: 'xml' })).toEqual([expect.stringContaining('LOG_FORMAT must be json or pretty')]);
});
