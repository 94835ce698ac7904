import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAuditCommand } from '../src/cli/audit';
import { loadConfig, type Config } from '../src/config';
import { JobsService } from '../src/jobs/service';
import { createLogger } from '../src/log';
import { openMigratedDatabase } from '../src/store/open';
import { ALICE } from './helpers/auditFixture';

// The `npm run audit -- ...` commands as an operator runs them: against the embedded store in
// DATA_DIR, with the checkpoint key generated there, and an export directory on disk.

let dataDir: string;
let config: Config;
const log = createLogger('silent');

async function audit(...args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runAuditCommand(args, config, log, (l) => lines.push(l));
  return { code, text: lines.join('\n') };
}

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-audit-cli-'));
  config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir });
  const db = await openMigratedDatabase(config);
  const jobs = new JobsService(db);
  for (let i = 0; i < 5; i++) await jobs.create(ALICE, { title: `Job ${i}`, ursDocument: 'URS-001 The system shall keep records.' });
  await db.close();
});
afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('checkpoint, verify, export and offline verify, end to end', async () => {
  const cp = await audit('checkpoint');
  expect(cp.code).toBe(0);
  expect(cp.text).toMatch(/^checkpoint #1 seals seq \.\.5 \(5 events\), digest [0-9a-f]{64}, key ed25519:[0-9a-f]{32}$/);
  expect(fs.existsSync(path.join(dataDir, 'audit', 'checkpoint-key.pem'))).toBe(true);
  const journals = fs.readdirSync(path.join(dataDir, 'audit')).filter((f) => f.startsWith('checkpoints'));
  expect(journals).toEqual([expect.stringMatching(/^checkpoints-[0-9a-f-]{36}\.jsonl$/)]);
  const journal = path.join(dataDir, 'audit', journals[0]);
  expect(fs.readFileSync(journal, 'utf8').trim().split('\n')).toHaveLength(1);
  expect((await audit('checkpoint')).text).toBe('Nothing new to seal.');

  const v = await audit('verify');
  expect(v.code).toBe(0);
  expect(v.text).toContain('Verifying the audit trail in the database');
  expect(v.text).toContain(`checkpoints file: ${journal} (1 checkpoints of this trail)`);
  expect(v.text).toContain(`trail:        ${journals[0].slice('checkpoints-'.length, -'.jsonl'.length)}`);
  expect(v.text).toContain('events:       5 (seq 1..5) in 5 streams');
  expect(v.text).toMatch(/\n {2}took: +\d+\.\d\d s \([\d,]+ events\/s\)\n/);
  expect(v.text).toMatch(/INTACT: no tampering found\.$/);

  const out = path.join(dataDir, 'export');
  const e = await audit('export', '--out', out);
  expect(e.code).toBe(0);
  expect(e.text).toMatch(/Exported 5 events \(seq 1\.\.5\) to .*: 1 day file\(s\) and manifest\.json/);
  const f = await audit('verify', '--file', out, '--public-key', path.join(dataDir, 'audit', 'checkpoint-key.pem'));
  expect(f.code).toBe(0);
  expect(f.text).toContain('pinned key:');
  expect(f.text).toMatch(/INTACT/);
});

test('a tampered export exits 1 and names the first affected event', async () => {
  const out = path.join(dataDir, 'export-tampered');
  expect((await audit('export', '--out', out, '--no-seal')).code).toBe(0);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  const file = path.join(out, manifest.files[0].name);
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  lines[2].timestamp = '2020-01-01T00:00:00.000Z';
  fs.writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const v = await audit('verify', '--file', out);
  expect(v.code).toBe(1);
  expect(v.text).toContain(`TAMPERED: first affected event seq 3 (id ${lines[2].id}): edited field occurred_at (timestamp): the column says "2020-01-01T00:00:00.000Z"`);
  expect(v.text).toContain('warning: checkpoint signatures were checked against the key shipped in the export');
});

test('verify with a pinned key that did not sign the checkpoints exits 1', async () => {
  const other = path.join(dataDir, 'other.pem');
  fs.writeFileSync(other, crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const v = await audit('verify', '--public-key', other);
  expect(v.code).toBe(1);
  expect(v.text).toMatch(/TAMPERED: first affected event seq 1: forged checkpoint: checkpoint #1/);
});

test('usage and input errors exit 2 with a message', async () => {
  const none = await audit();
  expect(none.code).toBe(2);
  expect(none.text).toContain('usage: npm run audit -- <subcommand>');
  const date = await audit('export', '--from', 'last tuesday');
  expect(date).toEqual({ code: 2, text: 'audit export: --from must be a day as YYYY-MM-DD (UTC), e.g. 2026-11-01 (got "last tuesday").' });
  // What Date would guess at (01/11/2026 as January 11th), and days that do not exist, are refused.
  for (const [flag, text] of [['--from', '01/11/2026'], ['--to', '2026-11-01T10:00:00Z'], ['--from', '2026-02-30'], ['--to', '11/01/2026']]) {
    expect(await audit('export', flag, text)).toEqual({ code: 2, text: `audit export: ${flag} must be a day as YYYY-MM-DD (UTC), e.g. 2026-11-01 (got "${text}").` });
  }
  const help = await audit('--help');
  expect(help.code).toBe(0);
  expect(help.text).toContain('usage: npm run audit -- <subcommand>');
  const dir = await audit('verify', '--file', path.join(dataDir, 'nowhere'));
  expect(dir.code).toBe(2);
  expect(dir.text).toMatch(/manifest\.json not found: pass the directory written by `npm run audit -- export`/);
});
