import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { devToken, gql, killAllChildren, runCommand, spawnServer, type ServerProcess } from './helpers/processes';

// `npm start`, then Ctrl-C (SIGINT) or a process manager's SIGTERM: the server stops everything
// in order and exits 0. NODE_ENV=development, as `npm start` runs it: under NODE_ENV=test Apollo
// installs no signal handlers of its own, and its handler racing ours made the stop hang forever.

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-shutdown-'));
});
afterAll(() => {
  killAllChildren();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test.each(['SIGTERM', 'SIGINT'] as const)('%s: the server (with its worker) stops and exits 0', async (signal) => {
  const s = await spawnServer({ NODE_ENV: 'development', DATA_DIR: dataDir, WORKER_ENABLED: 'true' });
  const token = await devToken(dataDir, 'user_bye');
  const res = await gql(s.url, 'query { viewer { userId } }', {}, token);
  expect(res.body.data).toEqual({ viewer: { userId: 'user_bye' } });
  const exit = await s.kill(signal); // a stop that never finished would end this test by its timeout
  expect(exit).toEqual({ code: 0, signal: null });
  // Printed once every part has stopped (the checkpointer's last seal, the database closed): a
  // process that merely ran out of work would exit 0 without it.
  // Log lines (JSON, written asynchronously: the last request's access line) may come between.
  expect(s.output()).toMatch(new RegExp(`${signal} received, shutting down\\n(\\{.*\\}\\n)*stopped\\n`));
}, 30_000);

const portOf = (s: ServerProcess) => Number(new URL(s.url).port);

/** A request whose body never finishes: it stays in flight until the server gives up on it. */
function hangingRequest(s: ServerProcess): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: portOf(s), path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
    req.on('error', (err) => resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.on('response', (res) => resolve(`status ${res.statusCode}`));
    req.write('{"query":');
  });
}

/** Completes the WebSocket handshake, then never answers anything (not even a close frame). */
async function deafWebSocket(s: ServerProcess): Promise<net.Socket> {
  const sock = net.connect(portOf(s), '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(
    `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
  );
  await new Promise<void>((resolve) => sock.once('data', (d) => (String(d).startsWith('HTTP/1.1 101') ? resolve() : sock.destroy())));
  return sock;
}

test('SIGTERM closes subscription sockets with 1001 Going Away', async () => {
  const s = await spawnServer({ NODE_ENV: 'development', DATA_DIR: dataDir });
  const token = await devToken(dataDir, 'user_ws');
  const ws = new WebSocket(s.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r) => ws.on('open', r));
  const acked = new Promise((r) => ws.on('message', (m) => JSON.parse(String(m)).type === 'connection_ack' && r(true)));
  ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  await acked;
  const exit = s.kill('SIGTERM');
  expect(await closed).toBe(1001);
  expect(await exit).toEqual({ code: 0, signal: null });
});

test('an in-flight request gets half of SHUTDOWN_TIMEOUT_MS, then is cut, and the stop still completes', async () => {
  // Generous: on a loaded machine the rest of the stop (worker, checkpoint, store) needs its half too.
  const s = await spawnServer({ NODE_ENV: 'development', DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '6000' });
  const pending = hangingRequest(s);
  await new Promise((r) => setTimeout(r, 100)); // the request's headers reach the server
  const exit = await s.kill('SIGTERM');
  expect(exit).toEqual({ code: 0, signal: null });
  // Log lines may come between the two: the cut request's access line (aborted, no status).
  expect(s.output()).toMatch(/SIGTERM received, shutting down\n(\{.*\}\n)*stopped\n/);
  expect(await pending).toMatch(/^(error: ECONNRESET|error: socket hang up|status \d+)$/);
});

test('a stop held up past SHUTDOWN_TIMEOUT_MS exits 1 with a line naming it', async () => {
  const s = await spawnServer({ NODE_ENV: 'development', DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '1500' });
  const deaf = await deafWebSocket(s); // ws waits 30 s for its close frame to be answered
  const exit = await s.kill('SIGTERM');
  deaf.destroy();
  expect(exit).toEqual({ code: 1, signal: null });
  expect(s.output()).toContain('shutdown did not finish within SHUTDOWN_TIMEOUT_MS=1500; exiting');
  expect(s.output()).not.toMatch(/\nstopped\n/);
});

test('a second signal exits at once, without waiting for the stop', async () => {
  const s = await spawnServer({ NODE_ENV: 'development', DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '120000' });
  const deaf = await deafWebSocket(s);
  s.kill('SIGINT').catch(() => undefined);
  for (let i = 0; i < 200 && !s.output().includes('SIGINT received, shutting down'); i++) await new Promise((r) => setTimeout(r, 20));
  const exit = await s.kill('SIGINT');
  deaf.destroy();
  expect(exit).toEqual({ code: 130, signal: null });
  expect(s.output()).toContain('SIGINT received again: exiting without finishing the shutdown');
});

test('a port in use: one line naming PORT, no stack trace', async () => {
  const busy = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  const port = (busy.address() as net.AddressInfo).port;
  const other = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-port-'));
  try {
    const r = await runCommand(['serve'], { NODE_ENV: 'development', DATA_DIR: other, HOST: '127.0.0.1', PORT: String(port), WORKER_ENABLED: 'false' }, 80_000);
    expect(r.code).toBe(1);
    const lines = r.output.trim().split('\n').filter((l) => !l.includes('"msg":"migrations applied"'));
    expect(lines).toEqual([`PORT=${port} on HOST=127.0.0.1 is already in use: stop the other process, or set PORT to a free port.`]);
    expect(r.output).not.toMatch(/\n\s+at /);
  } finally {
    busy.close();
    fs.rmSync(other, { recursive: true, force: true });
  }
}, 90_000);
