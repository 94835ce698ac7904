import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore } from './helpers/stores';

// COPY to the client goes through pg-copy-streams; these hold our adapter to what verify needs:
// the whole output in one buffer, errors as rejections, and the connection usable afterwards.

describeStore('postgres', () => {
  let store: StoreUnderTest;
  beforeAll(async () => {
    store = await openStore('postgres');
  });
  afterAll(() => store?.close());

  test('a COPY of 20,000 rows arrives whole (many socket reads), and the connection serves queries after it', async () => {
    const text = await store.db.copyOut!(`COPY (SELECT g, repeat('x', g % 300) FROM generate_series(1, 20000) g) TO STDOUT`, { sizeHint: 1024 });
    const lines = text.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(20000);
    expect(lines[299]).toBe(`300\t`);
    expect(lines[19999]).toBe(`20000\t${'x'.repeat(20000 % 300)}`);
    expect((await store.db.query<{ n: number }>('SELECT 41 + 1 AS n')).rows[0].n).toBe(42);
  });

  test('a failing COPY rejects with the database error, and every pooled connection still works', async () => {
    await expect(store.db.copyOut!('COPY (SELECT 1 / 0) TO STDOUT')).rejects.toThrow(/division by zero/);
    await expect(store.db.copyOut!('COPY (SELECT * FROM no_such_table) TO STDOUT')).rejects.toThrow(/no_such_table/);
    const many = await Promise.all(Array.from({ length: 12 }, (_, i) => store.db.query<{ n: number }>('SELECT $1::int AS n', [i])));
    expect(many.map((r) => r.rows[0].n)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  test('inside a transaction it runs on the transaction\'s connection and sees its uncommitted rows', async () => {
    const seen = await store.db.transaction(async (tx) => {
      await tx.query('CREATE TEMP TABLE copy_probe (v text) ON COMMIT DROP');
      await tx.query(`INSERT INTO copy_probe VALUES ('only here')`);
      return (await tx.copyOut!('COPY copy_probe TO STDOUT')).toString('utf8');
    });
    expect(seen).toBe('only here\n');
  });
});
