import { createCheckpoint } from '../src/audit/checkpoint/create';
import { databaseSource } from '../src/audit/verify/databaseSource';
import { verifyAuditTrail, type VerifyReport } from '../src/audit/verify/verify';
import type { Database, SqlClient } from '../src/store/database';
import { eventAt, forged, insertRaw, newSigner, rehashed, seedTrail, swapSeqs, underAttack, type SeededTrail } from './helpers/auditFixture';
import { openTestDatabase } from './helpers/server';

// Tampering through direct SQL, as someone with database access (triggers disabled), each attack
// rolled back afterwards. Every case asserts the finding and the first event it names.

let db: Database;
let t: SeededTrail;
const signer = newSigner();
const verify = (c: SqlClient): Promise<VerifyReport> => verifyAuditTrail(databaseSource(c), { publicKeyPem: signer.publicKeyPem });
const job = (k: keyof SeededTrail['jobs']) => `job:${t.jobs[k]}`;

beforeAll(async () => {
  db = await openTestDatabase();
  t = await seedTrail(db, signer);
});
afterAll(async () => {
  await db?.close();
});

test('the untouched trail is intact; events after the last checkpoint are reported as unsealed', async () => {
  const r = await verify(db);
  expect(r.findings).toEqual([]);
  expect(r).toMatchObject({ ok: true, events: 14, checkpointsVerified: 2, sealedUptoSeq: 13, sealedEventCount: 12, unsealed: 2 });
  expect(r.streams).toBe(7);
  expect(r.warnings).toEqual([]);
});

test('a column edited without touching the hashed text: edited field, named, at that event', async () => {
  const target = await eventAt(db, job('B'), 2);
  const r = await underAttack(db, (tx) => tx.query(`UPDATE audit_events SET reason = 'Routine cleanup' WHERE id = $1`, [target.id]).then(), verify);
  expect(r.ok).toBe(false);
  expect(r.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq), eventId: target.id });
  expect(r.first!.message).toMatch(/reason: the column says "Routine cleanup" but the hashed canonical text says "Submitted the wrong document"/);
});

test('a field edited with canonical text and hash recomputed: the next link in its stream names it', async () => {
  const target = await eventAt(db, job('A'), 1);
  const evil = rehashed(target, { actorEmail: 'mallory@example.com' });
  const r = await underAttack(
    db,
    (tx) => tx.query('UPDATE audit_events SET actor_email = $2, canonical = $3, hash = $4 WHERE id = $1', [target.id, evil.actorEmail, evil.canonical, evil.hash]).then(),
    verify,
  );
  expect(r.first).toMatchObject({ kind: 'edited-event', seq: Number(target.seq), eventId: target.id });
  const next = await eventAt(db, job('A'), 2);
  expect(r.first!.message).toContain(`the next event (seq ${next.seq})`);
  expect(r.findings.map((f) => f.kind)).toEqual(['edited-event']); // the checkpoint mismatch is explained, not repeated
});

test("a re-hashed edit of a stream's last event is caught by the checkpoint that sealed it", async () => {
  const target = await eventAt(db, job('E'), 1); // E has one event, in checkpoint #2's interval (seq 8..13)
  const evil = rehashed(target, { actorId: 'user_mallory' });
  const r = await underAttack(
    db,
    (tx) => tx.query('UPDATE audit_events SET actor_id = $2, canonical = $3, hash = $4 WHERE id = $1', [target.id, evil.actorId, evil.canonical, evil.hash]).then(),
    verify,
  );
  expect(r.first).toMatchObject({ kind: 'altered-interval', seq: 8 });
  expect(r.first!.message).toMatch(/seq 8\.\.13 do not add up to checkpoint #2's digest/);
});

test('a deleted middle event: named by the seq it held, and its stream shows the hole', async () => {
  const target = await eventAt(db, job('C'), 2);
  const r = await underAttack(db, (tx) => tx.query('DELETE FROM audit_events WHERE id = $1', [target.id]).then(), verify);
  expect(r.first).toMatchObject({ kind: 'deleted-event', seq: Number(target.seq), eventId: null });
  expect(r.first!.message).toContain(`seq ${target.seq} existed when checkpoint #2 sealed seq 8..13`);
  const after = await eventAt(db, job('C'), 3);
  expect(r.findings[1]).toMatchObject({ kind: 'deleted-event', seq: Number(after.seq), eventId: after.id });
  expect(r.findings[1].message).toContain(`stream ${job('C')} lacks stream_seq 2`);
});

test('a whole deleted stream is caught by the checkpoint', async () => {
  const first = await eventAt(db, job('B'), 1);
  const r = await underAttack(db, (tx) => tx.query('DELETE FROM audit_events WHERE stream = $1', [job('B')]).then(), verify);
  expect(r.first).toMatchObject({ kind: 'deleted-event', seq: Number(first.seq) });
  expect(r.findingsTotal).toBe(2); // B#1 (seq 2) and B#2 (seq 6)
});

test('a forged, correctly chained event put at a seq that a rolled-back insert left unused: inserted event', async () => {
  const head = await eventAt(db, job('A'), 3);
  const fake = forged(head, { action: 'job.cancelled', reason: 'Never happened', actorId: 'user_alice' });
  const r = await underAttack(db, (tx) => insertRaw(tx, fake, t.unusedSeq).then(), verify);
  expect(r.first).toMatchObject({ kind: 'inserted-event', seq: t.unusedSeq, eventId: fake.id });
  expect(r.first!.message).toContain(`seq ${t.unusedSeq} was unused when checkpoint #2 sealed`);
});

test('a forged event claiming a position its stream already has: inserted event', async () => {
  const real = await eventAt(db, job('B'), 2);
  const fake = rehashed({ ...real, id: '00000000-0000-4000-8000-000000000001' }, { reason: 'Approved by QA' });
  let seq = 0;
  const r = await underAttack(
    db,
    async (tx) => {
      await tx.query('ALTER TABLE audit_events DROP CONSTRAINT audit_events_stream_stream_seq_key');
      seq = await insertRaw(tx, fake);
    },
    verify,
  );
  expect(r.first).toMatchObject({ kind: 'inserted-event', seq, eventId: fake.id });
  expect(r.first!.message).toContain(`stream ${job('B')} already has stream_seq 2`);
});

test('two events of a stream with their seqs swapped: reordered event, at the lower seq', async () => {
  const [x, y] = [await eventAt(db, job('A'), 2), await eventAt(db, job('A'), 3)];
  const r = await underAttack(db, swapSeqs(x, y), verify);
  expect(r.first).toMatchObject({ kind: 'reordered-event', seq: Number(x.seq), eventId: y.id });
  expect(r.first!.message).toContain(`appears later at seq ${y.seq}`);
  expect(r.findingsTotal).toBe(1);
});

test('two events of different streams swapped: the checkpoint digest catches the reordering', async () => {
  const [x, y] = [await eventAt(db, job('B'), 1), await eventAt(db, job('C'), 1)];
  const r = await underAttack(db, swapSeqs(x, y), verify);
  expect(r.first).toMatchObject({ kind: 'altered-interval', seq: 1 });
  expect(r.first!.message).toMatch(/seq 1\.\.7 do not add up to checkpoint #1's digest.*reordered/);
});

test('a truncated tail: the trail ends before the last checkpoint says it does', async () => {
  const r = await underAttack(db, (tx) => tx.query('DELETE FROM audit_events WHERE seq >= 10').then(), verify);
  expect(r.first).toMatchObject({ kind: 'truncated-tail', seq: 10 });
  // seq 12 was never used, so 3 of the 4 sealed seqs after 9 are gone.
  expect(r.first!.message).toBe('truncated tail: the trail ends at seq 9, but checkpoint #2 sealed events up to seq 13 (12 events); 3 sealed event(s) after seq 9 are gone');
  expect(r.findingsTotal).toBe(1);
});

test('a checkpoint deleted from the middle of the chain is reported', async () => {
  const r = await underAttack(
    db,
    async (tx) => {
      await tx.query('DELETE FROM audit_checkpoints WHERE upto_seq = 7');
    },
    verify,
  );
  expect(r.first).toMatchObject({ kind: 'deleted-checkpoint', seq: 13 });
  expect(r.first!.message).toContain('checkpoint #2');
});

test('a checkpoint re-signed with another key after an edit is caught by the pinned key', async () => {
  const target = await eventAt(db, job('E'), 1);
  const evil = rehashed(target, { actorId: 'user_mallory' });
  const attacker = newSigner();
  const r = await underAttack(
    db,
    async (tx) => {
      await tx.query('UPDATE audit_events SET actor_id = $2, canonical = $3, hash = $4 WHERE id = $1', [target.id, evil.actorId, evil.canonical, evil.hash]);
      await tx.query('DELETE FROM audit_checkpoints WHERE upto_seq > 7');
      await tx.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER ALL');
      // The attacker's own checkpointer, run inside the attack transaction.
      await createCheckpoint({ ...(tx as Database), transaction: (fn) => fn(tx) } as Database, { ...attacker, journalDir: undefined });
    },
    verify,
  );
  expect(r.first).toMatchObject({ kind: 'forged-checkpoint', seq: 8 });
  expect(r.first!.message).toContain(`not the trusted key ${signer.keyId}`);
});

test('a tail truncated across two checkpoints is one finding, at the first missing event', async () => {
  const r = await underAttack(db, (tx) => tx.query('DELETE FROM audit_events WHERE seq >= 5').then(), verify);
  expect(r.first).toMatchObject({ kind: 'truncated-tail', seq: 5 });
  expect(r.first!.message).toContain('the trail ends at seq 4, but checkpoint #2 sealed events up to seq 13 (12 events); 8 sealed event(s) after seq 4 are gone');
  expect(r.findingsTotal).toBe(1);
});
