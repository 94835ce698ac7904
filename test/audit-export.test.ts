import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCheckpoint } from '../src/audit/checkpoint/create';
import { exportAuditTrail } from '../src/audit/export/write';
import type { ExportLine, ExportManifest } from '../src/audit/export/format';
import { exportDirectorySource } from '../src/audit/export/source';
import { appendEvent } from '../src/audit/trail';
import { verifyAuditTrail } from '../src/audit/verify/verify';
import type { Database } from '../src/store/database';
import { ALICE, eventAt, newSigner, rehashed, seedTrail, underAttack, type SeededTrail } from './helpers/auditFixture';
import { openTestDatabase } from './helpers/server';

let db: Database;
let t: SeededTrail;
let tmp: string;
const signer = newSigner();
const publicKey = { keyId: signer.keyId, pem: signer.publicKeyPem };
const pinned = { publicKeyPem: signer.publicKeyPem };

beforeAll(async () => {
  db = await openTestDatabase();
  t = await seedTrail(db, signer);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-export-'));
});
afterAll(async () => {
  await db?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
const freshDir = () => path.join(tmp, `export-${++n}`);
const readLines = (file: string): ExportLine[] => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const writeLines = (file: string, lines: unknown[]) => fs.writeFileSync(file, lines.map((l) => JSON.stringify(l) + '\n').join(''));
/** The day file holding the first line that matches (normally there is one file; near midnight UTC, two). */
function fileWith(dir: string, pred: (l: ExportLine) => boolean): { file: string; lines: ExportLine[]; i: number } {
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
  for (const f of m.files) {
    const lines = readLines(path.join(dir, f.name));
    const i = lines.findIndex(pred);
    if (i >= 0) return { file: path.join(dir, f.name), lines, i };
  }
  throw new Error('no such line');
}

test('an export writes the day file and manifest, and verifies offline', async () => {
  const dir = freshDir();
  const m = await exportAuditTrail(db, { outDir: dir, publicKey });
  // The events were made just now: one day file (two if the seeding straddled midnight UTC).
  expect(m.files.reduce((sum, f) => sum + f.lines, 0)).toBe(14);
  const file = m.files[0];
  expect(file.name).toMatch(/^audit_\d{8}\.jsonl$/);
  expect(file.first_seq).toBe(1);
  for (const f of m.files) {
    expect(f.sha256).toBe(createHash('sha256').update(fs.readFileSync(path.join(dir, f.name))).digest('hex'));
  }
  expect(m.covered).toEqual({ after_seq: 0, upto_seq: 15, events: 14 });
  expect(m.checkpoints.map((c) => c.upto_seq)).toEqual([7, 13]);
  expect(m.public_key).toEqual({ key_id: signer.keyId, pem: signer.publicKeyPem });

  const { lines: all, i: ci } = fileWith(dir, (l) => l.action === 'job.cancelled');
  const cancel = all[ci];
  expect(cancel).toMatchObject({
    user_id: 'user_alice',
    user_email: 'alice@example.com',
    token_iat: '2025-01-02T03:04:05.000Z',
    session_id: 'sess_alice',
    impersonator_id: null,
    job_id: t.jobs.B,
    reason: 'Submitted the wrong document',
    before: { status: 'PENDING', title: 'Job B', error: null },
    after: { status: 'CANCELLED', title: 'Job B', error: null },
    request_id: 'req_1',
    stream: `job:${t.jobs.B}`,
    stream_seq: 2,
    alcoa_attributable: true,
    alcoa_contemporaneous: true,
  });
  const db6 = await eventAt(db, `job:${t.jobs.B}`, 2);
  expect(cancel).toMatchObject({ seq: Number(db6.seq), timestamp: db6.occurredAt.toISOString(), canonical: db6.canonical, hash: db6.hash, prev_hash: db6.prevHash });
  const started = fileWith(dir, (l) => l.action === 'job.started');
  const worker = started.lines[started.i];
  expect(worker).toMatchObject({ user_id: 'system:worker', user_email: null, session_id: null, alcoa_attributable: true });

  const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
  expect(r.findings).toEqual([]);
  expect(r).toMatchObject({ ok: true, events: 14, checkpointsVerified: 2, unsealed: 2, warnings: [] });
});

test('an edited user_email in an export line is caught and named', async () => {
  const dir = freshDir();
  await exportAuditTrail(db, { outDir: dir, publicKey });
  const { file, lines, i } = fileWith(dir, (l) => l.action === 'job.cancelled');
  lines[i].user_email = 'someone.else@example.com';
  writeLines(file, lines);
  const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
  expect(r.first).toMatchObject({ kind: 'edited-field', seq: lines[i].seq, eventId: lines[i].id });
  expect(r.first!.message).toContain('actor_email (user_email): the column says "someone.else@example.com" but the hashed canonical text says "alice@example.com"');
  expect(r.findings[r.findings.length - 1]).toMatchObject({ kind: 'altered-export' });
});

test('a line removed from an export is caught as a deleted event, by its seq', async () => {
  const dir = freshDir();
  await exportAuditTrail(db, { outDir: dir, publicKey });
  const { file, lines, i: gone } = fileWith(dir, (l) => l.action === 'job.completed');
  writeLines(file, lines.filter((_, i) => i !== gone));
  const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
  expect(r.first).toMatchObject({ kind: 'deleted-event', seq: lines[gone].seq });
  expect(r.findings.map((f) => f.kind)).toContain('altered-export');
});

test.each([0, 2])('a garbled line and a blank line (%i worker threads): the garbled one is named by its line number, the blank one skipped', async (workers) => {
  const dir = freshDir();
  await exportAuditTrail(db, { outDir: dir, publicKey });
  const { file, i } = fileWith(dir, (l) => l.action === 'job.completed');
  const raw = fs.readFileSync(file, 'utf8').split('\n');
  const garbled = JSON.parse(raw[i]) as ExportLine;
  raw[i] = raw[i].slice(0, 40); // cut mid-line: not JSON
  raw.splice(i, 0, '   '); // a blank line before it: the garbled one is now line i + 2
  fs.writeFileSync(file, raw.join('\n'));
  const r = await verifyAuditTrail(exportDirectorySource(dir, { workers }), pinned);
  const problems = r.findings.filter((f) => f.kind === 'altered-export').map((f) => f.message);
  expect(problems).toContain(`altered export: ${path.basename(file)} line ${i + 2} is not valid JSON (its event counts as missing)`);
  // Blank lines are not counted: the file still has the manifest's number of lines, but not its bytes.
  expect(problems.some((m) => m.includes(`has ${raw.filter((l) => l.trim()).length} lines`))).toBe(true);
  expect(r.findings.map((f) => f.kind)).toContain('deleted-event');
  expect(r.findings.find((f) => f.kind === 'deleted-event')!.seq).toBeLessThanOrEqual(garbled.seq);
});

test('an export forged consistently (events, digests, signatures, key) passes unpinned, with a warning, and fails pinned', async () => {
  const dir = freshDir();
  const attacker = newSigner();
  const target = await eventAt(db, `job:${t.jobs.E}`, 1);
  const evil = rehashed(target, { actorId: 'user_mallory' });
  await underAttack(
    db,
    async (tx) => {
      await tx.query('UPDATE audit_events SET actor_id = $2, canonical = $3, hash = $4 WHERE id = $1', [target.id, evil.actorId, evil.canonical, evil.hash]);
      await tx.query('DELETE FROM audit_checkpoints');
      await tx.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER ALL');
      const txDb = { ...db, query: tx.query, transaction: (fn) => fn(tx) } as Database;
      await createCheckpoint(txDb, attacker);
    },
    (tx) => exportAuditTrail(tx, { outDir: dir, publicKey: { keyId: attacker.keyId, pem: attacker.publicKeyPem } }),
  );
  const unpinned = await verifyAuditTrail(exportDirectorySource(dir));
  expect(unpinned.ok).toBe(true);
  expect(unpinned.warnings.join(' ')).toMatch(/checked against the key shipped in the export; pin the key with --public-key/);
  const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
  expect(r.first).toMatchObject({ kind: 'forged-checkpoint', seq: 1 });
  expect(r.first!.message).toContain(`names key ${attacker.keyId}, not the trusted key ${signer.keyId}`);
});

describe('day files and date ranges', () => {
  let local: Database;
  const at = (iso: string, stream: string) =>
    local.transaction((tx) => appendEvent(tx, { stream, mode: 'shared', action: 'access.denied', occurredAt: new Date(iso), actor: ALICE }));
  beforeAll(async () => {
    local = await openTestDatabase();
    await at('2024-03-01T10:00:00.000Z', 's1'); // seq 1
    await at('2024-03-01T11:00:00.000Z', 's2'); // seq 2
    await createCheckpoint(local, signer);
    // Around midnight a later seq can carry an earlier time (transaction start): seq 4 belongs to day 1.
    await at('2024-03-02T00:00:00.001Z', 's1'); // seq 3
    await at('2024-03-01T23:59:59.999Z', 's2'); // seq 4
    await at('2024-03-02T09:00:00.000Z', 's1'); // seq 5
    await createCheckpoint(local, signer);
    await at('2024-03-03T09:00:00.000Z', 's1'); // seq 6
    await createCheckpoint(local, signer);
    await at('2024-03-03T10:00:00.000Z', 's2'); // seq 7, unsealed
  });
  afterAll(async () => {
    await local?.close();
  });

  test('events go to the file of their UTC day, and verify merges the files back into seq order', async () => {
    const dir = freshDir();
    const m = await exportAuditTrail(local, { outDir: dir, publicKey });
    expect(m.files.map((f) => [f.name, f.lines, f.first_seq, f.last_seq])).toEqual([
      ['audit_20240301.jsonl', 3, 1, 4],
      ['audit_20240302.jsonl', 2, 3, 5],
      ['audit_20240303.jsonl', 2, 6, 7],
    ]);
    const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ events: 7, checkpointsVerified: 3, unsealed: 1 });
  });

  test('--from/--to export one day, widened to the checkpoints around it, and still verify', async () => {
    const dir = freshDir();
    const m = await exportAuditTrail(local, { outDir: dir, from: new Date('2024-03-02T00:00:00Z'), to: new Date('2024-03-03T00:00:00Z'), publicKey });
    expect(m.covered).toEqual({ after_seq: 2, upto_seq: 5, events: 3 });
    expect(m.base_checkpoint).toMatchObject({ upto_seq: 2 });
    expect(m.checkpoints.map((c) => c.upto_seq)).toEqual([5]);
    expect(m.files.map((f) => f.name)).toEqual(['audit_20240301.jsonl', 'audit_20240302.jsonl']);
    const r = await verifyAuditTrail(exportDirectorySource(dir), pinned);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ events: 3, checkpointsVerified: 1, sealedUptoSeq: 5, sealedEventCount: 5, unsealed: 0 });

    // Dropping the first line of a stream in a partial export is still caught by the seal.
    const day2 = path.join(dir, 'audit_20240302.jsonl');
    writeLines(day2, readLines(day2).filter((l) => l.seq !== 3));
    const bad = await verifyAuditTrail(exportDirectorySource(dir), pinned);
    expect(bad.first).toMatchObject({ kind: 'deleted-event', seq: 3 });
  });
});
