import fs from 'node:fs';
import path from 'node:path';
import { startTestServer, type TestServer } from './helpers/server';

// The README's error table, held to what the server answers for bad dates.

let s: TestServer;
let token: string;
beforeAll(async () => {
  s = await startTestServer();
  token = await s.token('user_dates', { role: 'auditor' });
});
afterAll(() => s?.close());

test('a bad date in variables is BAD_USER_INPUT; as a literal in the document it is GRAPHQL_VALIDATION_FAILED; the README says both', async () => {
  const viaVariable = await s.gql('query($from: DateTime) { auditEvents(from: $from) { edges { node { id } } } }', { from: '01/11/2026' }, token);
  expect(viaVariable.body.errors?.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
  const literal = await s.gql('{ auditEvents(from: "01/11/2026") { edges { node { id } } } }', {}, token);
  expect(literal.status).toBe(400);
  expect(literal.body.errors?.map((e) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);

  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const row = (code: string) => readme.split('\n').find((l) => l.startsWith(`| \`${code}\``)) ?? '';
  expect(row('BAD_USER_INPUT')).toMatch(/bad dates in variables/);
  expect(row('GRAPHQL_PARSE_FAILED')).toMatch(/bad date literals/);
});
