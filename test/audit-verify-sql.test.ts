import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256Hex } from '../src/audit/canonical';
import { createCheckpoint } from '../src/audit/checkpoint/create';
import { exportAuditTrail } from '../src/audit/export/write';
import { databaseSource } from '../src/audit/verify/databaseSource';
import { exportDirectorySource } from '../src/audit/export/source';
import { appendEvent } from '../src/audit/trail';
import { verifyAuditTrail, type VerifyReport } from '../src/audit/verify/verify';
import type { SqlClient } from '../src/store/database';
import { ALICE, eventAt, forged, insertRaw, newSigner, seedTrail, underAttack, type SeededTrail } from './helpers/auditFixture';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore, STORE_KINDS } from './helpers/stores';

// The database source compares columns with the hashed text on the bytes of a binary COPY
// (PostgreSQL) or in SQL (PGlite), and falls back to Node for any batch it cannot vouch for.
// Whatever was tampered with, the findings must be exactly those of the all-Node comparison, and
// of an export of the same database verified offline.

const signer = newSigner();
const pinned = { publicKeyPem: signer.publicKeyPem };

/** Unusual but legitimate content: the SQL rebuild must agree with it, not just fall back. */
const ODD_ACTOR = {
  ...ALICE,
  actorEmail: 'o\'brien+"quoted"@example.com',
  userAgent: 'Mozilla/5.0 "x" \\ back\tslash \u0001 ctl \u2028 ls',
  requestId: 'req_😀_𝄞',
};
const ODD_AFTER = {
  z: [1, 1.5, -2, 1e21, 1e-7, true, false, null, 'ü', { b: 2, a: [] }],
  'é key': { '': '', nested: { deep: 'x"y\\z\n' } },
  A: {},
  status: 'DONE',
};

/** Rewrites one event's canonical text (and its hash, when asked) with triggers off. */
const setCanonical = (tx: SqlClient, id: string, canonical: string, rehash: boolean) =>
  tx.query(`UPDATE audit_events SET canonical = $2${rehash ? ', hash = $3' : ''} WHERE id = $1`, rehash ? [id, canonical, sha256Hex(canonical)] : [id, canonical]).then(() => undefined);

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    let store: StoreUnderTest;
    let t: SeededTrail;
    let tmp: string;
    beforeAll(async () => {
      store = await openStore(kind);
      t = await seedTrail(store.db, signer);
      const odd = (after: unknown, reason: string) =>
        store.db.transaction((tx) =>
          appendEvent(tx, { stream: 'user:odd', mode: 'shared', action: 'session.revoked', occurredAt: new Date(), actor: ODD_ACTOR, reason, after }),
        );
      await odd(ODD_AFTER, 'line one\nline "two" \\ 𝄞');
      await odd([1, 2, 3], '');
      await odd('a plain string', 'x');
      await createCheckpoint(store.db, signer);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-verify-sql-'));
    });
    afterAll(async () => {
      await store?.close();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const job = (k: keyof SeededTrail['jobs']) => `job:${t.jobs[k]}`;
    let dirs = 0;
    /**
     * Verifies the same (tampered) data every way and checks they agree: from COPY (PostgreSQL only;
     * also with a worker thread when `workers`), in SQL, through the driver, and offline from an
     * export. Returns the SQL-checked report.
     * `offline: false` where an export cannot say the same (it carries only the checkpoints up to
     * the last event it holds, so a cut tail is measured against an earlier one; it carries times
     * to the millisecond). `workers`: the export is also checked by worker threads (slow to start:
     * they compile the TypeScript), which must say the same.
     */
    async function everyWay(
      attack: (tx: SqlClient) => Promise<void>,
      { offline = true, workers = false } = {},
    ): Promise<VerifyReport> {
      const dir = path.join(tmp, `export-${++dirs}`);
      return underAttack(store.db, attack, async (tx) => {
        const sqlSource = databaseSource(tx, { columns: 'sql' });
        const inSql = await verifyAuditTrail(sqlSource, pinned);
        const inNode = await verifyAuditTrail(databaseSource(tx, { columns: 'node' }), pinned);
        // The transaction is still usable after any error the SQL comparison raised.
        await expect(tx.query('SELECT count(*) FROM audit_events')).resolves.toBeTruthy();
        expect(inSql.findings).toEqual(inNode.findings);
        if (tx.copyOut) {
          const copySource = databaseSource(tx, { columns: 'copy', workers: 0 });
          expect((await verifyAuditTrail(copySource, pinned)).findings).toEqual(inNode.findings);
          if (workers) {
            const threaded = databaseSource(tx, { columns: 'copy', workers: 1, batchSize: 4 });
            expect((await verifyAuditTrail(threaded, pinned)).findings).toEqual(inNode.findings);
          }
        }
        if (offline) {
          await exportAuditTrail(tx, { outDir: dir, publicKey: { keyId: signer.keyId, pem: signer.publicKeyPem } });
          expect((await verifyAuditTrail(exportDirectorySource(dir, { workers: 0 }), pinned)).findings).toEqual(inNode.findings);
          if (workers) expect((await verifyAuditTrail(exportDirectorySource(dir, { workers: 2 }), pinned)).findings).toEqual(inNode.findings);
        }
        expect(inSql).toMatchObject({ ok: inNode.ok, events: inNode.events, findingsTotal: inNode.findingsTotal });
        return inSql;
      });
    }

    test('an intact trail, odd content included, is intact every way', async () => {
      const source = databaseSource(store.db);
      const r = await verifyAuditTrail(source, pinned);
      expect(r.findings).toEqual([]);
      expect(r).toMatchObject({ ok: true, events: 17 });
      const intact = await everyWay(async () => undefined, { workers: true });
      expect(intact.ok).toBe(true);
    });

    test('small batches over several lanes yield every event once, in order', async () => {
      const source = databaseSource(store.db, { batchSize: 2, lanes: 3 });
      const seqs: number[] = [];
      for await (const batch of source.events()) seqs.push(...batch.map((e) => Number(e.seq)));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(17);
      const r = await verifyAuditTrail(databaseSource(store.db, { batchSize: 3, lanes: 2 }), pinned);
      expect(r).toMatchObject({ ok: true, events: 17, checkpointsVerified: 3 });
    });

    test('an edited column: edited field, named the same way by all three (and by worker threads)', async () => {
      const target = await eventAt(store.db, job('B'), 2);
      const r = await everyWay(
        (tx) => tx.query(`UPDATE audit_events SET reason = 'Routine cleanup', after = '{"status":"CANCELLED"}' WHERE id = $1`, [target.id]).then(),
        { workers: true },
      );
      expect(r.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq) });
      expect(r.first!.message).toMatch(/reason: the column says "Routine cleanup".*after: the column says/);
    });

    // Each column the canonical text records, edited on its own (job B's cancellation: it has an
    // actor with a session and token time, a reason, before and after).
    test.each([
      ['action', `action = 'job.completed'`, 'action'],
      ['occurred_at', `occurred_at = occurred_at - interval '1 day'`, 'occurred_at (timestamp)'],
      ['actor_id', `actor_id = 'user_mallory'`, 'actor_id (user_id)'],
      ['actor_email', `actor_email = NULL`, 'actor_email (user_email)'],
      ['session_id', `session_id = 'sess_forged'`, 'session_id'],
      ['token_iat', `token_iat = token_iat + interval '1 millisecond'`, 'token_iat'],
      ['impersonator_id', `impersonator_id = 'user_support'`, 'impersonator_id'],
      ['job_id', `job_id = gen_random_uuid()`, 'job_id'],
      ['reason', `reason = 'Submitted the right document'`, 'reason'],
      ['before (a value)', `before = jsonb_set(before, '{status}', '"RUNNING"')`, 'before'],
      ['after (a key added)', `after = after || '{"note": 1}'`, 'after'],
      ['request_id', `request_id = 'req_other'`, 'request_id'],
      ['ip', `ip = '10.9.9.9'`, 'ip'],
      ['user_agent', `user_agent = 'curl/8'`, 'user_agent'],
      ['id', `id = gen_random_uuid()`, 'id'],
      ['stream_seq', `stream_seq = stream_seq + 10`, 'stream_seq'],
    ])('%s edited alone: every way names that column, at that event', async (_name, set, shown) => {
      const target = await eventAt(store.db, job('B'), 2);
      const r = await everyWay((tx) => tx.query(`UPDATE audit_events SET ${set} WHERE seq = $1`, [target.seq]).then());
      const atTarget = r.findings.filter((f) => f.seq === Number(target.seq) && f.kind === 'edited-field');
      expect(atTarget).toHaveLength(1);
      expect(atTarget[0].message).toContain(`${shown}: the column says`);
    });

    test('a jsonb column rewritten in another form of the same value (2048.0 for 2048): no finding, every way', async () => {
      const target = await eventAt(store.db, job('A'), 1);
      const after = target.after as Record<string, unknown>;
      expect(typeof after.ursDocumentBytes).toBe('number');
      const r = await everyWay((tx) =>
        tx.query(`UPDATE audit_events SET after = jsonb_set(after, '{ursDocumentBytes}', ($2 || '.0')::jsonb) WHERE seq = $1`, [target.seq, String(after.ursDocumentBytes)]).then(),
      );
      expect(r.findings).toEqual([]);
      expect(r.ok).toBe(true);
    });

    test('canonical text that is not JSON, in the part SQL casts to jsonb: the SQL error falls back, same findings', async () => {
      const target = await eventAt(store.db, job('A'), 2);
      const broken = target.canonical.replace('"after":{', '"after":{"oops":,');
      expect(broken).not.toBe(target.canonical);
      const r = await everyWay((tx) => setCanonical(tx, target.id, broken, true), { workers: true });
      expect(r.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq) });
      expect(r.first!.message).toContain('canonical: it is not valid JSON');
    });

    test.each([
      ['a NUL escape, which jsonb refuses', '"after":{"x":"\\u0000",'],
      ['a lone surrogate escape, which jsonb refuses', '"after":{"x":"\\ud800",'],
      ['a key injected after the after value', '"after":{},"actorId":"user_mallory","x":{'],
    ])('a re-hashed canonical text with %s: caught, same findings', async (_name, replacement) => {
      const target = await eventAt(store.db, job('C'), 1);
      const evil = target.canonical.replace('"after":{', replacement);
      const r = await everyWay((tx) => setCanonical(tx, target.id, evil, true));
      expect(r.ok).toBe(false);
      expect(r.findings.map((f) => f.kind)).toContain('edited-field');
    });

    test('a re-hashed canonical text in another form of the same values (spaces, key order): no edited field; the seal and the chain catch it', async () => {
      const target = await eventAt(store.db, job('D'), 1);
      const parsed = JSON.parse(target.canonical) as Record<string, unknown>;
      const reordered = `{ "v": 1, ${Object.keys(parsed).filter((k) => k !== 'v').map((k) => `${JSON.stringify(k)} : ${JSON.stringify(parsed[k])}`).join(', ')} }`;
      const r = await everyWay((tx) => setCanonical(tx, target.id, reordered, true));
      expect(r.findings.map((f) => f.kind)).not.toContain('edited-field');
      // D's first event opens checkpoint #2's interval; its next link is in the unsealed tail.
      expect(r.first).toMatchObject({ kind: 'altered-interval', seq: Number(target.seq) });
      expect(r.findings.map((f) => f.kind)).toContain('edited-event');
    });

    test('a number or a timestamp changed in form only (streamSeq as a string, microseconds): judged as Node judges', async () => {
      const target = await eventAt(store.db, job('A'), 3);
      const asString = target.canonical.replace(/"streamSeq":3/, '"streamSeq":"3"');
      expect(asString).not.toBe(target.canonical);
      const typed = await everyWay((tx) => setCanonical(tx, target.id, asString, true));
      expect(typed.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq) });
      expect(typed.first!.message).toContain('stream_seq: the column says 3 but the hashed canonical text says "3"');

      // Canonical text records milliseconds: a column finer than that was not written by appendEvent.
      // (An export carries times to the millisecond, so offline it cannot show.)
      const micro = await everyWay((tx) => tx.query(`UPDATE audit_events SET occurred_at = occurred_at + interval '1 microsecond' WHERE id = $1`, [target.id]).then(), { offline: false });
      expect(micro.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq) });
      expect(micro.first!.message).toMatch(/^edited field occurred_at \(timestamp\): the column says \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}001Z, finer than the milliseconds the hashed canonical text records/);
      const milli = await everyWay((tx) => tx.query(`UPDATE audit_events SET occurred_at = occurred_at + interval '1 millisecond' WHERE id = $1`, [target.id]).then());
      expect(milli.first).toMatchObject({ kind: 'edited-field', seq: Number(target.seq) });
      expect(milli.first!.message).toContain('occurred_at (timestamp)');
    });

    test('the five tamperings of the issue give the same findings every way', async () => {
      const c2 = await eventAt(store.db, job('C'), 2);
      const [x, y] = [await eventAt(store.db, job('A'), 2), await eventAt(store.db, job('A'), 3)];
      const move = async (tx: SqlClient, moves: [typeof x, number][]) => {
        await tx.query('DELETE FROM audit_events WHERE id = ANY($1::uuid[])', [moves.map(([e]) => e.id)]);
        for (const [e, seq] of moves) await insertRaw(tx, e, seq);
      };
      const attacks: [string, (tx: SqlClient) => Promise<void>][] = [
        ['edited-field', (tx) => tx.query(`UPDATE audit_events SET actor_email = 'mallory@example.com', token_iat = NULL WHERE id = $1`, [c2.id]).then()],
        ['deleted-event', (tx) => tx.query('DELETE FROM audit_events WHERE id = $1', [c2.id]).then()],
        ['reordered-event', (tx) => move(tx, [[x, Number(y.seq)], [y, Number(x.seq)]])],
        ['deleted-event', (tx) => move(tx, [[x, Number(x.seq) + 1000]])],
        ['edited-event', (tx) => tx.query(`UPDATE audit_events SET hash = repeat('0', 64) WHERE id = $1`, [c2.id]).then()],
      ];
      for (const [kind, attack] of attacks) expect((await everyWay(attack, { workers: kind === 'reordered-event' })).first?.kind).toBe(kind);
      const cut = await everyWay((tx) => tx.query('DELETE FROM audit_events WHERE seq >= 10').then(), { offline: false });
      expect(cut.first).toMatchObject({ kind: 'truncated-tail', seq: 10 });
    });

    test('an event forced below seq 1 (OVERRIDING SYSTEM VALUE) is read and reported as inserted, not skipped', async () => {
      const head = await eventAt(store.db, job('A'), 3);
      for (const seq of [0, -(2 ** 53)]) {
        const fake = forged(head, { action: 'job.cancelled', reason: 'Never happened' });
        // The export covers the sealed range, from seq 1: it does not carry this row at all.
        const r = await everyWay((tx) => insertRaw(tx, fake, seq).then(() => undefined), { offline: false });
        expect(r.first).toMatchObject({ kind: 'inserted-event', seq, eventId: fake.id });
        expect(r.first!.message).toBe(`inserted event: seq ${seq} is below 1, where sequence numbers start; no event is ever given it`);
      }
    });
  });
}
