import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateSigningKey, signSessionToken } from '../src/auth/devIssuer';
import { DEV_ISSUER } from '../src/config';
import { createLogger, REDACTED } from '../src/log';
import { createFreshPostgres, type FreshPostgres } from './helpers/databases';
import { devToken, killAllChildren, spawnServer, type ServerProcess } from './helpers/processes';
import { describeStore } from './helpers/stores';
import { subscribe } from './helpers/wsClient';

// The server's real output: a started `cli.ts serve` process, its stdout captured, after
// requests that carry really signed tokens, a cookie and URS text. Whatever the log lines say,
// none of those may be in them.

const CREATE = 'mutation CreateForLogs($input: CreateJobInput!) { createJob(input: $input) { id status } }';
const JOB = 'query JobForLogs($id: ID!) { job(id: $id) { status } }';
const SUBSCRIBE = 'subscription Follow($id: ID!) { jobUpdated(id: $id) { status } }';

type Line = Record<string, any>;

/** Every stdout line that is a log line (JSON), in order; the start-up banner is plain text. */
function jsonLines(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

async function post(url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** Waits until the server has written a line that `match` accepts (lines leave asynchronously). */
async function lineOf(s: ServerProcess, match: (l: Line) => boolean, what: string): Promise<Line> {
  for (let i = 0; i < 500; i++) {
    const found = jsonLines(s.stdout()).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line for ${what}; stdout was:\n${s.stdout()}`);
}

afterAll(() => killAllChildren());

describe('access lines and redaction, LOG_LEVEL=debug (request headers in every line)', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-logs-'));
  const marker = randomBytes(12).toString('hex');
  const urs = `URS-001 The system shall keep ${marker} out of every log line.\nURS-002 Confidential-${marker} must stay in the database.`;
  const cookie = `__session=${randomBytes(16).toString('hex')}`;
  let s: ServerProcess;
  let token: string;
  let foreign: string;
  let jobId: string;

  beforeAll(async () => {
    s = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'debug', WORKER_ENABLED: 'true', WORKER_POLL_MS: '50' });
    token = await devToken(dataDir, 'user_logs', { email: 'logs@example.com' });
    // Really signed, by a key this server does not trust: refused, and its text must not be logged either.
    foreign = await signSessionToken(generateSigningKey(), DEV_ISSUER, { userId: 'user_intruder' });

    const created = await post(s.url, { query: CREATE, variables: { input: { title: 'Logged job', ursDocument: urs } } }, {
      authorization: `Bearer ${token}`,
      cookie,
      'x-request-id': 'req-logs-create',
    });
    expect(created.status).toBe(200);
    jobId = created.body.data.createJob.id;
    let status = '';
    for (let i = 0; i < 300 && status !== 'COMPLETED'; i++) {
      status = (await post(s.url, { query: JOB, variables: { id: jobId } }, { authorization: `Bearer ${token}` })).body.data.job.status;
      if (status !== 'COMPLETED') await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('COMPLETED');

    const refused = await post(s.url, { query: '{ viewer { userId } }' }, { authorization: `Bearer ${foreign}`, 'x-request-id': 'req-logs-refused' });
    expect(refused.status).toBe(401);

    const sub = subscribe(Number(new URL(s.url).port), { token }, SUBSCRIBE, { id: jobId });
    await sub.until(() => sub.results.length > 0, 'the job state over WebSocket');
    await sub.dispose();
    await lineOf(s, (l) => l.msg === 'websocket closed', 'the WebSocket close');
  }, 90_000); // a server process (started through tsx), a job through the worker, a socket

  afterAll(async () => {
    await s?.kill();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('one access line per request: requestId, method, route, status, duration, operation, user', async () => {
    const line = await lineOf(s, (l) => l.msg === 'request' && l.requestId === 'req-logs-create', 'createJob');
    expect(line).toMatchObject({ level: 'info', method: 'POST', route: '/graphql', status: 200, operation: 'CreateForLogs', userId: 'user_logs' });
    expect(typeof line.durationMs).toBe('number');
    expect(line.errorCodes).toBeUndefined();
    expect(jsonLines(s.stdout()).filter((l) => l.requestId === 'req-logs-create' && l.msg === 'request')).toHaveLength(1);
  });

  test('a refused token: 401 with its error code, no user', async () => {
    const line = await lineOf(s, (l) => l.msg === 'request' && l.requestId === 'req-logs-refused', 'the refused token');
    expect(line).toMatchObject({ status: 401, errorCodes: ['UNAUTHENTICATED'] });
    expect(line.userId).toBeUndefined();
  });

  test('WebSocket connections: a line when connection_init is accepted, and one with the close code', async () => {
    const open = await lineOf(s, (l) => l.msg === 'websocket open', 'the WebSocket open');
    const closed = await lineOf(s, (l) => l.msg === 'websocket closed', 'the WebSocket close');
    expect(open).toMatchObject({ level: 'info', userId: 'user_logs', route: '/graphql' });
    expect(closed).toMatchObject({ level: 'info', userId: 'user_logs', code: 1000, requestId: open.requestId });
  });

  test('Authorization and Cookie headers are censored by the logger, not left out', async () => {
    const line = await lineOf(s, (l) => l.requestId === 'req-logs-create' && l.msg === 'request', 'createJob');
    expect(line.req.headers).toMatchObject({ authorization: REDACTED, cookie: REDACTED, 'x-request-id': 'req-logs-create' });
  });

  test('no token, cookie or URS text anywhere in the output', () => {
    const out = s.output();
    expect(jsonLines(s.stdout()).length).toBeGreaterThan(5);
    for (const secret of [token, token.split('.')[2], foreign, foreign.split('.')[2], cookie.split('=')[1], marker]) {
      expect(out).not.toContain(secret);
    }
  });
});

test('the redaction configuration covers URS text and credentials in any object a caller logs', () => {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  log.info('careless', {
    input: { title: 'kept', ursDocument: 'URS-001 secret requirement' },
    job: { id: 'j1', ursDocument: 'URS-002 secret requirement' },
    variables: { input: { ursDocument: 'URS-003 secret requirement' } },
    connectionParams: { authorization: 'Bearer abc.def.ghi' },
    token: 'abc.def.ghi',
  });
  const line = JSON.parse(lines[0]);
  expect(line.input).toEqual({ title: 'kept', ursDocument: REDACTED });
  expect(line.job.ursDocument).toBe(REDACTED);
  expect(line.variables.input.ursDocument).toBe(REDACTED);
  expect(line.connectionParams.authorization).toBe(REDACTED);
  expect(line.token).toBe(REDACTED);
  expect(lines[0]).not.toMatch(/secret requirement|abc\.def/);
});

describeStore('postgres', () => {
  // An unexpected failure (a trigger refusing the audit insert) inside createJob.
  let fresh: FreshPostgres;
  let s: ServerProcess;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-logs-pg-'));
  const marker = randomBytes(12).toString('hex');

  beforeAll(async () => {
    fresh = await createFreshPostgres();
    const c = new pg.Client({ connectionString: fresh.url });
    await c.connect();
    await c.query(`
      CREATE FUNCTION test_inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.after->>'title' LIKE '%FAIL-AUDIT%' THEN RAISE EXCEPTION 'injected failure: audit insert refused'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_inject_failure BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_inject_failure();`);
    await c.end();
    s = await spawnServer({ DATA_DIR: dataDir, DATABASE_URL: fresh.url, LOG_LEVEL: 'info' });
  }, 90_000);
  afterAll(async () => {
    await s?.kill();
    await fresh?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('an unexpected error is logged once, with the requestId and its stack; the client gets neither', async () => {
    const token = await devToken(dataDir, 'user_unlucky');
    const res = await post(s.url, { query: CREATE, variables: { input: { title: 'FAIL-AUDIT', ursDocument: `URS-001 shall ${marker}` } } }, {
      authorization: `Bearer ${token}`,
      'x-request-id': 'req-logs-unexpected',
    });
    expect(res.body.errors[0].extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: 'req-logs-unexpected' });
    expect(JSON.stringify(res.body)).not.toMatch(/injected|stack|\.ts:\d/);

    const access = await lineOf(s, (l) => l.msg === 'request' && l.requestId === 'req-logs-unexpected', 'the failed createJob');
    expect(access).toMatchObject({ status: 200, operation: 'CreateForLogs', userId: 'user_unlucky', errorCodes: ['INTERNAL_SERVER_ERROR'] });
    const errors = jsonLines(s.stdout()).filter((l) => l.msg === 'unexpected error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 'error', requestId: 'req-logs-unexpected', path: ['createJob'] });
    expect(errors[0].err.message).toContain('injected failure: audit insert refused');
    expect(errors[0].err.stack).toMatch(/\n\s+at /);
    expect(s.output()).not.toContain(marker);
    expect(s.output()).not.toContain(token);
  });
});
