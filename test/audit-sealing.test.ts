import { databaseSource } from '../src/audit/verify/databaseSource';
import { verifyAuditTrail } from '../src/audit/verify/verify';
import { startTestServer, type TestServer } from './helpers/server';
import { describeStore, STORE_KINDS } from './helpers/stores';

for (const kind of STORE_KINDS) {
  describeStore(kind, () => {
    // A running server seals its own audit trail: checkpoints appear on the configured interval
    // and a last one is taken when it stops, so `npm run audit -- verify` finds nothing unsealed.

    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer({ AUDIT_CHECKPOINT_INTERVAL_MS: '100' }, { store: kind });
    });
    afterAll(async () => {
      await s?.close();
    });

    const checkpoints = async () =>
      (await s.db.query<{ upto_seq: string; event_count: string }>('SELECT upto_seq, event_count FROM audit_checkpoints ORDER BY id')).rows;

    test('the server checkpoints new events on its interval, and the sealed trail verifies', async () => {
      const t = await s.token('user_sealed');
      for (let i = 0; i < 3; i++) {
        const res = await s.gql('mutation($i: CreateJobInput!) { createJob(input: $i) { id } }', { i: { title: `sealed ${i}`, ursDocument: 'URS-001 The system shall seal.' } }, t);
        expect(res.body.errors).toBeUndefined();
      }
      const [{ max }] = (await s.db.query<{ max: string }>('SELECT max(seq)::text AS max FROM audit_events')).rows;
      let sealed = false;
      for (let attempt = 0; attempt < 100 && !sealed; attempt++) {
        sealed = (await checkpoints()).some((c) => BigInt(c.upto_seq) >= BigInt(max));
        if (!sealed) await new Promise((r) => setTimeout(r, 100));
      }
      expect(sealed).toBe(true);
      const report = await verifyAuditTrail(databaseSource(s.db));
      expect(report.ok).toBe(true);
      expect(report.unsealed).toBe(0);
    });
  });
}
