import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAuditCommand } from '../src/cli/audit';
import { loadConfig, type Config } from '../src/config';
import { JobsService } from '../src/jobs/service';
import { createLogger } from '../src/log';
import { openMigratedDatabase } from '../src/store/open';
import { ALICE } from './helpers/auditFixture';
import { createFreshPostgres, type FreshPostgres } from './helpers/databases';
import { describeStore } from './helpers/stores';

// One DATA_DIR (the default ./.data) serving PostgreSQL database A, then a fresh database B, then
// A again, as an operator who switches DATABASE_URL would run it: each trail keeps its own
// checkpoint journal, and verify compares a trail only with its own.

const log = createLogger('silent');
let dataDir: string;
let a: FreshPostgres;
let b: FreshPostgres;

const configFor = (db: FreshPostgres): Config => loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, DATABASE_URL: db.url });

async function audit(db: FreshPostgres, ...args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const code = await runAuditCommand(args, configFor(db), log, (l) => lines.push(l));
  return { code, text: lines.join('\n') };
}

async function addJobs(db: FreshPostgres, n: number): Promise<void> {
  const store = await openMigratedDatabase(configFor(db), log);
  try {
    const jobs = new JobsService(store);
    for (let i = 0; i < n; i++) await jobs.create(ALICE, { title: `Job ${i}`, ursDocument: 'URS-001 The system shall keep records.' });
  } finally {
    await store.close();
  }
}

const trailOf = (text: string) => /trail: +([0-9a-f-]{36})/.exec(text)?.[1];
const journalLines = (trailId: string) =>
  fs.readFileSync(path.join(dataDir, 'audit', `checkpoints-${trailId}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describeStore('postgres', () => {
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-trail-identity-'));
    [a, b] = await Promise.all([createFreshPostgres(), createFreshPostgres()]);
  });
  afterAll(async () => {
    await Promise.all([a?.drop(), b?.drop()]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  let trailA: string;
  let trailB: string;

  test('A, then B, then A with one DATA_DIR: every verify is intact, and each trail has a journal of its own', async () => {
    await addJobs(a, 3);
    expect((await audit(a, 'checkpoint')).code).toBe(0);
    const v1 = await audit(a, 'verify');
    expect(v1).toMatchObject({ code: 0 });
    trailA = trailOf(v1.text)!;

    await addJobs(b, 5);
    expect((await audit(b, 'checkpoint')).code).toBe(0);
    const v2 = await audit(b, 'verify');
    expect(v2.text).not.toContain('forged');
    expect(v2.code).toBe(0);
    expect(v2.text).toMatch(/INTACT/);
    trailB = trailOf(v2.text)!;
    expect(trailB).not.toBe(trailA);
    expect(v2.text).toContain(`checkpoints file: ${path.join(dataDir, 'audit', `checkpoints-${trailB}.jsonl`)} (1 checkpoints of this trail)`);

    await addJobs(a, 2);
    expect((await audit(a, 'checkpoint')).code).toBe(0);
    const v3 = await audit(a, 'verify');
    expect(v3.text).not.toContain('forged');
    expect(v3.code).toBe(0);
    expect(trailOf(v3.text)).toBe(trailA);
    expect(v3.text).toContain('(2 checkpoints of this trail)');

    // Separate journals, each line tagged with its trail.
    expect(fs.readdirSync(path.join(dataDir, 'audit')).filter((f) => f.startsWith('checkpoints')).sort()).toEqual(
      [`checkpoints-${trailA}.jsonl`, `checkpoints-${trailB}.jsonl`].sort(),
    );
    expect(journalLines(trailA).map((l) => [l.trail_id, l.upto_seq])).toEqual([[trailA, 3], [trailA, 5]]);
    expect(journalLines(trailB).map((l) => [l.trail_id, l.upto_seq])).toEqual([[trailB, 5]]);
  });

  test("another trail's journal is named as such, not called forgery", async () => {
    const v = await audit(a, 'verify', '--checkpoints', path.join(dataDir, 'audit', `checkpoints-${trailB}.jsonl`));
    expect(v.code).toBe(0);
    expect(v.text).toContain(`1 checkpoint(s) belong to another trail (${trailB}), not to this one (${trailA}); they were not compared`);
    expect(v.text).not.toContain('forged');
  });

  test('an untagged journal of an older version that mixes both trails: only this trail\'s chain is compared', async () => {
    const legacy = path.join(dataDir, 'legacy.jsonl');
    const untag = ({ trail_id: _t, ...rest }: Record<string, unknown>) => JSON.stringify(rest);
    fs.writeFileSync(legacy, [journalLines(trailA)[0], journalLines(trailB)[0], journalLines(trailA)[1]].map(untag).join('\n') + '\n');
    const v = await audit(a, 'verify', '--checkpoints', legacy);
    expect(v.code).toBe(0);
    expect(v.text).toContain('(2 checkpoints of this trail)');
    expect(v.text).toContain('1 untagged checkpoint(s) chain to none of this trail\'s checkpoints: they belong to another trail and were not compared');
  });

  test('a checkpoint forged in the database is still caught against its own journal', async () => {
    const store = await openMigratedDatabase(configFor(a), log);
    try {
      await store.transaction(async (tx) => {
        await tx.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL');
        await tx.query(`UPDATE audit_checkpoints SET event_count = event_count + 1 WHERE upto_seq = 5`);
        await tx.query('ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_update_delete');
      });
    } finally {
      await store.close();
    }
    const v = await audit(a, 'verify');
    expect(v.code).toBe(1);
    expect(v.text).toContain('[forged-checkpoint] forged checkpoint: checkpoint #2 (seals seq ..5) differs from its copy in the external checkpoints file');
  });
});
