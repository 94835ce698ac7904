import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { devToken, gql, killAllChildren, spawnServer } from './helpers/processes';

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
  expect(s.output()).toMatch(new RegExp(`${signal} received, shutting down\\nstopped\\n`));
}, 30_000);
