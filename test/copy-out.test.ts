import { EventEmitter } from 'node:events';
import { CopyOut } from '../src/store/copyOut';
import { openStore, type StoreUnderTest } from './helpers/databases';
import { describeStore } from './helpers/stores';

// CopyOut reads the socket itself while a COPY runs and hands the connection back to
// node-postgres at CopyDone or at anything else. Here its protocol handling is fed every way a
// socket can cut the same bytes; below, it runs against PostgreSQL.

const msg = (type: string, payload: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
};

/** What a backend sends for a COPY TO STDOUT of `rows`, then what follows it for node-postgres. */
function wire(rows: Buffer[]): { copy: Buffer; after: Buffer } {
  const copy = Buffer.concat([
    msg('H', Buffer.from([0, 0, 0])),
    msg('S', Buffer.from('TimeZone\0UTC\0')), // may come at any time: skipped
    ...rows.map((r) => msg('d', r)),
    msg('N', Buffer.from('Mnotice\0\0')),
    msg('c', Buffer.alloc(0)),
  ]);
  const after = Buffer.concat([msg('C', Buffer.from('COPY 3\0')), msg('Z', Buffer.from('I'))]);
  return { copy, after };
}

/** A connection as node-postgres has it: one 'data' listener (its parser) on the socket. */
function fakeConnection() {
  const stream = new EventEmitter();
  const seen: Buffer[] = [];
  stream.on('data', (b: Buffer) => seen.push(Buffer.from(b)));
  const sent: string[] = [];
  return { connection: { stream, query: (text: string) => sent.push(text) }, stream, seen, sent };
}

describe('CopyOut, on the wire', () => {
  const rows = [Buffer.from('first row'), Buffer.alloc(3000, 7), Buffer.from('third')];
  const { copy, after } = wire(rows);
  const all = Buffer.concat([copy, after]);

  test.each([1, 2, 3, 4, 5, 6, 7, 64, 1000, all.length])('cut into chunks of %i bytes: the rows, and node-postgres gets the rest', async (size) => {
    const f = fakeConnection();
    const q = new CopyOut('COPY x TO STDOUT', { sizeHint: 16 }); // small: it must grow
    q.submit(f.connection as never);
    expect(f.sent).toEqual(['COPY x TO STDOUT']);
    for (let i = 0; i < all.length; i += size) f.stream.emit('data', all.subarray(i, i + size));
    expect(Buffer.concat(f.seen)).toEqual(after); // node-postgres's listener is back, and saw exactly the rest
    expect(f.stream.listeners('data')).toHaveLength(1);
    q.handleReadyForQuery();
    expect(Buffer.from(await q.done)).toEqual(Buffer.concat(rows));
    expect((await q.done).buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  test('an error in the middle: node-postgres gets it whole, header included, and the COPY rejects', async () => {
    const f = fakeConnection();
    const q = new CopyOut('COPY x TO STDOUT');
    q.submit(f.connection as never);
    const error = msg('E', Buffer.from('SERROR\0Mcanceling statement\0\0'));
    const bytes = Buffer.concat([msg('H', Buffer.from([0, 0, 0])), msg('d', Buffer.from('row')), error, msg('Z', Buffer.from('I'))]);
    for (let i = 0; i < bytes.length; i += 3) f.stream.emit('data', bytes.subarray(i, i + 3));
    expect(Buffer.concat(f.seen)).toEqual(Buffer.concat([error, msg('Z', Buffer.from('I'))]));
    q.handleError(new Error('canceling statement'));
    await expect(q.done).rejects.toThrow('canceling statement');
  });

  test('a connection it does not recognise: node-postgres parses, CopyData messages are taken one by one', async () => {
    const f = fakeConnection();
    f.stream.on('data', () => undefined); // two listeners: not the layout it knows
    const q = new CopyOut('COPY x TO STDOUT');
    q.submit(f.connection as never);
    expect(f.stream.listeners('data')).toHaveLength(2);
    for (const r of rows) q.handleCopyData({ chunk: r });
    q.handleReadyForQuery();
    expect(Buffer.from(await q.done)).toEqual(Buffer.concat(rows));
  });
});

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
