import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCheckpoint, latestCheckpoint, startCheckpointer } from '../src/audit/checkpoint/create';
import { auditDir, checkpointKeyPath, loadCheckpointSigner, localCheckpointPublicKey } from '../src/audit/checkpoint/key';
import { checkpointSigningText } from '../src/audit/checkpoint/record';
import { databaseSource } from '../src/audit/verify/databaseSource';
import { verifyAuditTrail } from '../src/audit/verify/verify';
import { loadConfig } from '../src/config';
import { JobsService } from '../src/jobs/service';
import { createLogger } from '../src/log';
import type { Database } from '../src/store/database';
import { ALICE, journaled, newSigner, underAttack } from './helpers/auditFixture';
import { openTestDatabase } from './helpers/server';

let db: Database;
let dataDir: string;
beforeAll(async () => {
  db = await openTestDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-audit-'));
});
afterAll(async () => {
  await db?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const svc = () => new JobsService(db);
const createJobs = async (n: number) => {
  for (let i = 0; i < n; i++) await svc().create(ALICE, { title: `Job ${i}`, ursDocument: 'URS-001 The system shall keep records.' });
};
const config = (env: Record<string, string> = {}) => loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, ...env });

describe('the checkpoint key', () => {
  test('is generated once into DATA_DIR/audit with mode 0600 and reused after', () => {
    const a = loadCheckpointSigner(config());
    const file = checkpointKeyPath(dataDir);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const b = loadCheckpointSigner(config());
    expect(b.keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^ed25519:[0-9a-f]{32}$/);
    expect(localCheckpointPublicKey(config())).toBe(a.publicKeyPem);
    expect(a.journalDir).toBe(auditDir(dataDir));
  });

  test('AUDIT_CHECKPOINT_KEY wins over the file, newlines escaped as in an env var', () => {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const signer = loadCheckpointSigner(config({ AUDIT_CHECKPOINT_KEY: pem.replace(/\n/g, '\\n') }));
    expect(signer.publicKeyPem).toBe(crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString());
    expect(signer.keyId).not.toBe(loadCheckpointSigner(config()).keyId);
  });

  test('a key that is not Ed25519 is refused with a message naming what is needed', () => {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => loadCheckpointSigner(config({ AUDIT_CHECKPOINT_KEY: pem }))).toThrow(/must be an Ed25519 private key \(got ec\)/);
  });
});

describe('createCheckpoint', () => {
  test('seals the new events, signs them, journals them, and skips when nothing is new', async () => {
    const signer = newSigner(path.join(dataDir, 'journal-1'));
    await createJobs(3);
    const first = await createCheckpoint(db, signer);
    expect(first).toMatchObject({ uptoSeq: 3, eventCount: 3, prevDigest: null, missingSeqs: [], keyId: signer.keyId });
    expect(await createCheckpoint(db, signer)).toBeNull();
    await createJobs(2);
    const second = await createCheckpoint(db, signer);
    expect(second).toMatchObject({ uptoSeq: 5, eventCount: 5, prevDigest: first!.digest });
    // digest_2 = sha256(digest_1 || hash_4 || hash_5)
    const hashes = await db.query<{ hash: string }>('SELECT hash FROM audit_events WHERE seq IN (4, 5) ORDER BY seq');
    const expected = crypto.createHash('sha256').update(first!.digest + hashes.rows.map((r) => r.hash).join('')).digest('hex');
    expect(second!.digest).toBe(expected);
    expect(crypto.verify(null, Buffer.from(checkpointSigningText(second!)), signer.publicKeyPem, Buffer.from(second!.signature, 'base64'))).toBe(true);
    const journal = await journaled(signer, db);
    expect(journal).toEqual([first, second]);
    expect(await latestCheckpoint(db)).toEqual(second);
  });

  test('the checkpoints table is append-only, also under session_replication_role = replica', async () => {
    for (const sql of ['UPDATE audit_checkpoints SET event_count = 0', 'DELETE FROM audit_checkpoints', 'TRUNCATE audit_checkpoints']) {
      await expect(db.query(sql)).rejects.toThrow(/audit_checkpoints is append-only/);
      await expect(
        db.transaction(async (tx) => {
          await tx.query('SET LOCAL session_replication_role = replica');
          await tx.query(sql);
        }),
      ).rejects.toThrow(/append-only/);
    }
  });

  test('a second first checkpoint or a second successor cannot be inserted (no forks)', async () => {
    const cp = (await latestCheckpoint(db))!;
    const insert = (prev: string | null, upto: number) =>
      db.query(
        `INSERT INTO audit_checkpoints (upto_seq, event_count, digest, prev_digest, missing_seqs, created_at, key_id, signature)
         VALUES ($1, 1, $2, $3, '{}', now(), 'k', 's')`,
        [upto, crypto.randomBytes(8).toString('hex'), prev],
      );
    await expect(insert(null, 1000)).rejects.toThrow(/duplicate key/);
    await expect(insert(cp.prevDigest, 1001)).rejects.toThrow(/duplicate key/);
  });
});

describe('the checkpoints journal (kept apart from the database)', () => {
  test('restores checkpoints deleted with a truncated tail, so the truncation is caught', async () => {
    const signer = newSigner(path.join(dataDir, 'journal-2'));
    const local = await openTestDatabase();
    try {
      const jobs = new JobsService(local);
      for (let i = 0; i < 4; i++) await jobs.create(ALICE, { title: `T${i}`, ursDocument: 'URS-001 shall.' });
      await createCheckpoint(local, signer);
      for (let i = 0; i < 3; i++) await jobs.create(ALICE, { title: `U${i}`, ursDocument: 'URS-001 shall.' });
      await createCheckpoint(local, signer);
      const external = await journaled(signer, local);
      const attack = async (tx: Parameters<Parameters<typeof underAttack>[1]>[0]) => {
        await tx.query('DELETE FROM audit_events WHERE seq > 4');
        await tx.query('DELETE FROM audit_checkpoints WHERE upto_seq > 4');
      };
      // Events and the checkpoints that sealed them deleted together: the database alone looks intact...
      const blind = await underAttack(local, attack, (tx) => verifyAuditTrail(databaseSource(tx), { publicKeyPem: signer.publicKeyPem }));
      expect(blind.ok).toBe(true);
      // ...the journal does not.
      const r = await underAttack(local, attack, (tx) => verifyAuditTrail(databaseSource(tx), { publicKeyPem: signer.publicKeyPem, externalCheckpoints: external }));
      expect(r.first).toMatchObject({ kind: 'truncated-tail', seq: 5 });
      expect(r.first!.message).toContain('checkpoint #2 sealed events up to seq 7 (7 events); 3 sealed event(s) after seq 4 are gone');
      expect(r.findings.map((f) => f.kind)).toEqual(['truncated-tail', 'deleted-checkpoint']);
    } finally {
      await local.close();
    }
  });
});

describe('startCheckpointer', () => {
  test('seals periodically, skips idle ticks, and seals the tail on stop({ seal: true })', async () => {
    const local = await openTestDatabase();
    const signer = newSigner();
    const lines: string[] = [];
    const checkpointer = startCheckpointer(local, signer, 5, createLogger('debug', (l) => lines.push(l)));
    try {
      await new JobsService(local).create(ALICE, { title: 'first', ursDocument: 'URS-001 shall.' });
      const count = async () => Number((await local.query<{ n: string }>('SELECT count(*) AS n FROM audit_checkpoints')).rows[0].n);
      while ((await count()) === 0) await new Promise((r) => setTimeout(r, 5));
      // Ticks keep running with nothing new: no further checkpoint appears.
      expect(await checkpointer.runOnce()).toBeNull();
      expect(await count()).toBe(1);
      await new JobsService(local).create(ALICE, { title: 'second', ursDocument: 'URS-001 shall.' });
      await checkpointer.stop({ seal: true });
      expect((await latestCheckpoint(local))!.uptoSeq).toBe(2);
      expect(lines.some((l) => JSON.parse(l).msg === 'audit checkpoint')).toBe(true);
    } finally {
      await checkpointer.stop();
      await local.close();
    }
  });

  test('a failing run is logged and does not stop the timer', async () => {
    const broken = { query: async () => Promise.reject(new Error('database went away')) } as unknown as Database;
    const lines: string[] = [];
    const checkpointer = startCheckpointer(broken, newSigner(), 1, createLogger('error', (l) => lines.push(l)));
    while (lines.length < 2) await new Promise((r) => setTimeout(r, 2));
    await checkpointer.stop();
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'error', msg: 'audit checkpoint failed', error: 'database went away' });
  });
});
