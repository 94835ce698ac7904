import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startWorker, type Worker } from '../src/jobs/worker';
import { createLogger } from '../src/log';
import { ARTIFACTS, browserSkipReason, buildClient, launchChromium, MANIFEST, serveClient } from './helpers/browser';
import { CANCEL_JOB, createJob } from './helpers/jobQueries';
import { startTestServer, type TestServer } from './helpers/server';

// The example web client (examples/web), built as it ships, in Debian's Chromium against real
// servers: a user's whole journey, another user's view, an auditor's, the rate limit, and a
// three-minute session on 20-second tokens. Screenshots land in test-artifacts/ (not committed).

const skip = browserSkipReason();
if (skip) console.warn(skip);
const describeBrowser = skip ? describe.skip : describe;

const SAMPLE = path.resolve(__dirname, 'fixtures/sample-urs.txt');
const SAMPLE_IDS = fs.readFileSync(SAMPLE, 'utf8').match(/URS-\d+/g)!;
const SESSION_MS = 180_000;

let web: Awaited<ReturnType<typeof serveClient>>;
let main: TestServer;
let limited: TestServer;
let long: TestServer;
let browser: Browser;
let worker: Worker | null = null;
let session: Promise<SessionReport>;
const contexts: BrowserContext[] = [];

jest.setTimeout(SESSION_MS + 120_000);

beforeAll(async () => {
  buildClient();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  web = await serveClient();
  const env = { CORS_ORIGINS: web.origin, TRUSTED_DOCUMENTS: MANIFEST };
  main = await startTestServer(env);
  limited = await startTestServer({ ...env, RATE_LIMIT_PER_MINUTE: '4' }, { db: main.db });
  // Its own database: the other tests' worker must not move this session's jobs.
  long = await startTestServer(env);
  web.mount('app', main.url);
  web.mount('limited', limited.url);
  web.mount('long', long.url);
  browser = await launchChromium();
  // Runs beside the other tests (it mostly waits); the last test collects its result.
  session = longSession();
  session.catch(() => undefined);
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await long?.close();
  await limited?.close();
  await main?.close();
  await web?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  contexts.push(context);
  return context.newPage();
}

async function signIn(page: Page, mount: string, userId: string, opts: { email?: string; role?: string; ttl?: number } = {}): Promise<void> {
  await page.goto(`${web.origin}/${mount}/`);
  await page.getByTestId('user-id').fill(userId);
  if (opts.email) await page.getByTestId('email').fill(opts.email);
  if (opts.role) await page.getByTestId('role').selectOption(opts.role);
  if (opts.ttl) await page.getByTestId('ttl').fill(String(opts.ttl));
  await page.getByTestId('sign-in').click();
  await page.getByTestId('who').filter({ hasText: opts.email ?? userId }).waitFor();
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
const row = (page: Page, jobId: string) => page.locator(`[data-job-id="${jobId}"]`);

describeBrowser('the example web client in Chromium', () => {
  let aliceJob: string;

  test('a user submits the sample URS, watches it reach COMPLETED without reloading, and reads its test cases', async () => {
    const page = await newPage();
    const sentQueryText: string[] = [];
    page.on('request', (req) => {
      if (req.url().startsWith(main.url) && req.method() === 'POST') {
        const body = JSON.parse(req.postData() ?? '{}');
        if (body.query) sentQueryText.push(body.operationName);
      }
    });
    await signIn(page, 'app', 'user_alice', { email: 'alice@example.com' });
    await page.evaluate(() => ((globalThis as unknown as { marker: string }).marker = 'same-document'));

    await page.getByRole('link', { name: 'Submit a URS' }).click();
    await page.getByTestId('title').fill('LIMS upgrade');
    await page.getByTestId('file').setInputFiles(SAMPLE);
    await expectLocator(page.getByTestId('urs')).toHaveValue(/URS-001/);
    await shot(page, '01-submit');
    await page.getByTestId('submit').click();

    const first = page.getByTestId('job-row').first();
    await first.getByTestId('job-status').filter({ hasText: 'PENDING' }).waitFor();
    aliceJob = (await first.getAttribute('data-job-id'))!;
    await shot(page, '02-jobs-pending');

    // Only now does any worker run: the change must arrive over the subscription.
    worker = await startWorker(main.db, main.jobs, createLogger('silent'), { concurrency: 1, pollMs: 50 });
    await row(page, aliceJob).getByTestId('job-status').filter({ hasText: 'COMPLETED' }).waitFor({ timeout: 20_000 });
    await shot(page, '03-jobs-completed');

    await row(page, aliceJob).getByRole('link').click();
    await page.getByTestId('test-case').first().waitFor();
    expect(await page.getByTestId('test-case').count()).toBe(SAMPLE_IDS.length);
    expect(await page.getByTestId('traces-to').allTextContents()).toEqual(SAMPLE_IDS);
    await expectLocator(page.getByTestId('job-trail')).toHaveText(/created[\s\S]*completed/i);
    await shot(page, '04-job-detail');

    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe('same-document');
    // Every HTTP operation went by hash alone (the server resolved it from TRUSTED_DOCUMENTS).
    expect(sentQueryText).toEqual([]);
  });

  test('a user cancels a job with a reason', async () => {
    await worker?.stop();
    worker = null;
    const page = await newPage();
    await signIn(page, 'app', 'user_alice', { email: 'alice@example.com' });
    await page.getByRole('link', { name: 'Submit a URS' }).click();
    await page.getByTestId('title').fill('Superseded URS');
    await page.getByTestId('urs').fill('URS-010 The system shall print labels.');
    await page.getByTestId('submit').click();
    await page.getByTestId('job-row').filter({ hasText: 'Superseded URS' }).getByRole('link').click();
    await page.getByTestId('cancel-reason').fill('Superseded by version 2');
    await page.getByTestId('cancel').click();
    await page.getByTestId('detail-status').filter({ hasText: 'CANCELLED' }).waitFor();
    await expectLocator(page.getByTestId('job-trail')).toHaveText(/Superseded by version 2/);
    await shot(page, '05-job-cancelled');
  });

  test('a second user in another browser context cannot see that job', async () => {
    const page = await newPage();
    await signIn(page, 'app', 'user_bob');
    await page.getByTestId('no-jobs').waitFor();
    await page.evaluate((id) => ((globalThis as unknown as { location: { hash: string } }).location.hash = `#/jobs/${id}`), aliceJob);
    const error = page.locator('[data-code="FORBIDDEN"]');
    await error.waitFor();
    await expectLocator(error).toHaveText(/do not have access/);
    expect(await page.getByTestId('test-case').count()).toBe(0);
    await shot(page, '06-other-user-forbidden');
  });

  test('an auditor browses and filters the audit trail: who, when, why, where', async () => {
    const page = await newPage();
    await signIn(page, 'app', 'user_qa', { email: 'qa@example.com', role: 'auditor' });
    await page.getByRole('link', { name: 'Audit trail' }).click();
    await page.getByTestId('audit-event').first().waitFor();
    await page.getByTestId('filter-actorId').fill('user_alice');
    await page.getByTestId('apply-filters').click();
    const actorsShown = () => page.getByTestId('audit-event').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-actor')));
    // The filtered page replaces the unfiltered one: wait until only Alice's events are listed.
    for (let i = 0; i < 100 && (await actorsShown()).some((a) => a !== 'user_alice'); i++) await page.waitForTimeout(100);
    await expectLocator(page.locator('[data-action="job.cancelled"]').getByTestId('audit-reason')).toHaveText(/Superseded by version 2/);
    const actors = await actorsShown();
    expect(actors.length).toBeGreaterThanOrEqual(3); // two jobs created, one cancelled
    expect(new Set(actors)).toEqual(new Set(['user_alice']));
    const cancelled = page.locator('[data-action="job.cancelled"]');
    await expectLocator(cancelled).toHaveText(/alice@example\.com[\s\S]*session[\s\S]*127\.0\.0\.1/);
    await shot(page, '07-audit-trail');
  });

  test('a user without the auditor role gets no audit trail: the link is absent and the API says FORBIDDEN', async () => {
    const page = await newPage();
    await signIn(page, 'app', 'user_carol');
    expect(await page.getByRole('link', { name: 'Audit trail' }).count()).toBe(0);
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = '#/audit'));
    await page.locator('[data-code="FORBIDDEN"]').waitFor();
  });

  test('a request refused by the rate limit shows how long to wait', async () => {
    const page = await newPage();
    await signIn(page, 'limited', 'user_hasty');
    const limitedError = page.locator('[data-code="RATE_LIMITED"]');
    for (let i = 0; i < 8 && (await limitedError.count()) === 0; i++) {
      await page.getByTestId('refresh').click();
      await page.waitForTimeout(150);
    }
    await limitedError.first().waitFor();
    const text = await limitedError.first().innerText();
    const seconds = Number(/Try again in (\d+) seconds/.exec(text)?.[1]);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThanOrEqual(60);
    await shot(page, '08-rate-limited');
  });

  test(`a ${SESSION_MS / 60_000}-minute session on 20-second tokens keeps receiving updates and is never signed out`, async () => {
    const report = await session;
    console.log(`long session: ${Math.round(report.elapsedMs / 1000)} s, ${report.sockets} WebSocket connections, ${report.tokens} tokens minted, ${report.seen.length} updates seen`);
    expect(report.elapsedMs).toBeGreaterThanOrEqual(SESSION_MS);
    expect(report.seen).toEqual(report.expected);
    expect(report.signedOut).toEqual([]);
    expect(report.otherErrors).toEqual([]);
    // The server closed expired sockets (4401) and the client came back each time, with a new
    // token: a socket lives at most 25 s (token lifetime plus the server's 5 s clock skew).
    expect(report.sockets).toBeGreaterThanOrEqual(Math.floor(SESSION_MS / 30_000));
    expect(report.tokens).toBeGreaterThanOrEqual(report.sockets);
  });
});

interface SessionReport {
  elapsedMs: number;
  expected: string[];
  seen: string[];
  signedOut: string[];
  otherErrors: string[];
  sockets: number;
  tokens: number;
}

/**
 * Nine PENDING jobs; every 20 seconds an admin cancels one over HTTP, and the page (which never
 * reloads) must show it as CANCELLED through its subscriptions, across token expiries. In between
 * the page refreshes its list over HTTP, with whatever token it holds by then.
 */
async function longSession(): Promise<SessionReport> {
  const started = Date.now();
  const steps = Math.ceil(SESSION_MS / 20_000);
  const owner = await long.token('user_long');
  const ids: string[] = [];
  for (let i = 0; i < steps; i++) ids.push(await createJob(long, owner, `Long session ${i}`));
  const page = await newPage();
  let sockets = 0;
  let tokens = 0;
  page.on('websocket', () => sockets++);
  page.on('request', (req) => void (req.url().endsWith('/dev/token') && req.method() === 'POST' && tokens++));
  await signIn(page, 'long', 'user_long', { ttl: 20 });
  for (const id of ids) await row(page, id).getByTestId('job-status').filter({ hasText: 'PENDING' }).waitFor();
  await shot(page, '09-long-session-start');
  const report: SessionReport = { elapsedMs: 0, expected: [], seen: [], signedOut: [], otherErrors: [], sockets: 0, tokens: 0 };
  const admin = await long.token('user_admin', { role: 'admin', ttlSeconds: 600 });
  for (const [i, id] of ids.entries()) {
    await page.waitForTimeout(Math.max(0, started + (i + 1) * 20_000 - Date.now()));
    const res = await long.gql(CANCEL_JOB, { id, reason: `step ${i}` }, admin);
    if (res.body.errors) throw new Error(`cancel failed: ${JSON.stringify(res.body)}`);
    report.expected.push(`${id}:CANCELLED`);
    await row(page, id).getByTestId('job-status').filter({ hasText: 'CANCELLED' }).waitFor({ timeout: 15_000 });
    report.seen.push(`${id}:CANCELLED`);
    if (i % 2 === 1) await page.getByTestId('refresh').click();
    report.signedOut.push(...(await page.getByTestId('signed-out').allInnerTexts()));
    report.otherErrors.push(...(await page.getByTestId('error').allInnerTexts()));
  }
  report.elapsedMs = Date.now() - started;
  report.sockets = sockets;
  report.tokens = tokens;
  await shot(page, '10-long-session-end');
  return report;
}

async function expect_(locator: { innerText(): Promise<string> } | { inputValue(): Promise<string> }, pattern: RegExp, value: boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    last = value ? await (locator as { inputValue(): Promise<string> }).inputValue() : await (locator as { innerText(): Promise<string> }).innerText();
    if (pattern.test(last)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`expected ${pattern} within 10 s, got ${JSON.stringify(last)}`);
}

// A small stand-in for @playwright/test's web-first assertions (not installed: it bundles a runner).
function expectLocator(locator: Parameters<typeof expect_>[0]) {
  return {
    toHaveText: (pattern: RegExp) => expect_(locator, pattern, false),
    toHaveValue: (pattern: RegExp) => expect_(locator, pattern, true),
  };
}
