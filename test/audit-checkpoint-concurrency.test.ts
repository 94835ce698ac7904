import { randomBytes } from 'node:crypto';
import { createCheckpoint } from '../src/audit/checkpoint/create';
import { databaseSource } from '../src/audit/verify/databaseSource';
import { appendEvent } from '../src/audit/trail';
import { verifyAuditTrail } from '../src/audit/verify/verify';
import { JobsService } from '../src/jobs/service';
import type { Database, SqlClient } from '../src/store/database';
import { ALICE, BOB, newSigner } from './helpers/auditFixture';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore, STORE_KINDS } from './helpers/stores';

// A checkpoint's boundary must never seal past a seq whose transaction is still open: that
// event would commit later, inside an interval whose digest did not include it.

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const denial = (tx: SqlClient, actor = BOB) =>
  appendEvent(tx, { stream: `actor:${actor.actorId}`, mode: 'shared', action: 'access.denied', occurredAt: new Date(), actor });
/** A transaction that has inserted an event and waits, holding its locks, until released. */
function openInsert(db: Database) {
  const inserted = deferred<number>();
  const release = deferred();
  const done = db.transaction(async (tx) => {
    inserted.resolve(Number((await denial(tx)).seq));
    await release.promise;
  });
  return { seq: inserted.promise, release: () => release.resolve(), done };
}

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    const signer = newSigner();
    beforeAll(async () => {
      store = await openStore(kind);
    });
    afterAll(async () => {
      await store?.close();
    });

    test('a checkpoint started while another transaction is mid-insert waits for it and seals it', async () => {
      const { db } = store;
      await new JobsService(db).create(ALICE, { title: 'before', ursDocument: 'URS-001 shall.' });
      const open = openInsert(db);
      const lowSeq = await open.seq;
      let higherSeq = lowSeq;
      if (kind === 'postgres') {
        // A later seq commits first: a boundary read before the open transaction ends would see it and skip lowSeq.
        // (Another actor's stream: the open transaction holds Bob's stream lock.)
        higherSeq = Number((await db.transaction((tx) => denial(tx, ALICE))).seq);
        expect(higherSeq).toBeGreaterThan(lowSeq);
      }
      let settled = false;
      const cp = createCheckpoint(db, signer).finally(() => (settled = true));
      if (kind === 'postgres') {
        const waiting = async () =>
          (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'audit_events'::regclass AND mode = 'ShareLock' AND NOT granted`))
            .rows[0].n;
        while ((await waiting()) === 0) await new Promise((r) => setTimeout(r, 5));
      } else {
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      }
      expect(settled).toBe(false);
      open.release();
      await open.done;
      const sealed = (await cp)!;
      expect(sealed.uptoSeq).toBeGreaterThanOrEqual(Math.max(lowSeq, higherSeq));
      expect(sealed.missingSeqs).not.toContain(lowSeq);
      const r = await verifyAuditTrail(databaseSource(db), { publicKeyPem: signer.publicKeyPem });
      expect(r.findings).toEqual([]);
      expect(r.unsealed).toBe(0);
    });

    if (kind === 'postgres') {
      test('two checkpointers racing produce one chain, never a fork', async () => {
        const { db } = store;
        await new JobsService(db).create(ALICE, { title: 'race', ursDocument: 'URS-001 shall.' });
        const results = await Promise.all([createCheckpoint(db, signer), createCheckpoint(db, signer), createCheckpoint(db, signer)]);
        expect(results.filter((c) => c !== null)).toHaveLength(1);
        const r = await verifyAuditTrail(databaseSource(db), { publicKeyPem: signer.publicKeyPem });
        expect(r.ok).toBe(true);
      });

      test('an application role with only INSERT and SELECT can checkpoint, but cannot edit or lock the trail itself', async () => {
        const { db } = store;
        const role = `jobledger_app_${randomBytes(4).toString('hex')}`;
        await db.exec(`CREATE ROLE ${role} NOLOGIN;
          GRANT USAGE ON SCHEMA public TO ${role};
          GRANT SELECT, INSERT ON audit_events, audit_checkpoints, audit_trail TO ${role};`);
        const asApp = <T>(fn: (tx: SqlClient) => Promise<T>) =>
          db.transaction(async (tx) => {
            await tx.query(`SET LOCAL ROLE ${role}`);
            return fn(tx);
          });
        try {
          await new JobsService(db).create(ALICE, { title: 'grants', ursDocument: 'URS-001 shall.' });
          const checkpoint = () => asApp((tx) => createCheckpoint({ ...db, query: tx.query, transaction: (fn) => fn(tx) } as Database, signer));
          // The boundary function holds a lock that stalls writers, so it is not PUBLIC: the operator grants it.
          await expect(checkpoint()).rejects.toThrow(/permission denied for function audit_checkpoint_boundary/);
          await db.exec(`GRANT EXECUTE ON FUNCTION audit_checkpoint_boundary() TO ${role}`);
          expect(await checkpoint()).toMatchObject({ uptoSeq: expect.any(Number) });
          await expect(asApp((tx) => tx.query('LOCK TABLE audit_events IN SHARE MODE'))).rejects.toThrow(/permission denied/);
          await expect(asApp((tx) => tx.query(`UPDATE audit_events SET reason = 'x'`))).rejects.toThrow(/permission denied/);
          await expect(asApp((tx) => tx.query('DELETE FROM audit_checkpoints'))).rejects.toThrow(/permission denied/);
        } finally {
          await db.exec(`DROP OWNED BY ${role}; DROP ROLE ${role};`);
        }
      });
    }
  });
}
