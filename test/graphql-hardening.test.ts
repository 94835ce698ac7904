import { startTestServer, type GqlResponse, type TestServer } from './helpers/server';

// Hostile GraphQL documents and HTTP bodies against a development-mode server. Each attack must
// be refused before execution with a 4xx (or a clear error code) and leave the server serving.
// Production-only behaviour (introspection, suggestions, landing page) and rate limiting live in
// graphql-production.test.ts.

let s: TestServer;
let token: string;
beforeAll(async () => {
  s = await startTestServer();
  token = await s.token('user_hardening', { email: 'hardening@example.com' });
});
afterAll(async () => {
  await s?.close();
});

async function expectHealthy(): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${s.port}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
}

function expectRejected(res: GqlResponse<unknown>, code: string, message: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.body.data).toBeUndefined();
  const errors = res.body.errors ?? [];
  expect(errors.map((e) => e.extensions.code)).toContain(code);
  expect(errors.map((e) => e.message).join('\n')).toMatch(message);
  for (const e of errors) expect(e.extensions.stacktrace).toBeUndefined();
}

/** A raw POST to /graphql with the given content type and body, for bodies `s.gql` cannot send. */
async function post(body: string, contentType = 'application/json', headers: Record<string, string> = {}) {
  const res = await fetch(s.url, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${token}`, ...headers }, body });
  return { status: res.status, headers: res.headers, body: (await res.json()) as GqlResponse<any>['body'] };
}

async function jobCount(): Promise<number> {
  const res = await s.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM jobs WHERE owner_id = 'user_hardening'`);
  return Number(res.rows[0].n);
}

const CREATE = 'mutation { createJob(input: { title: "csrf", ursDocument: "URS-001 shall" }) { id } }';

describe('document limits', () => {
  test('depth 20 through __type ofType nesting is refused by the depth limit', async () => {
    let inner = 'name';
    for (let i = 0; i < 17; i++) inner = `ofType { ${inner} }`;
    const res = await s.gql(`{ __type(name: "Query") { fields { type { ${inner} } } } }`, {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /depth limit of \d+ exceeded/);
    await expectHealthy();
  });

  test('depth 20 spread across a chain of fragments is still counted', async () => {
    const fragments = Array.from({ length: 20 }, (_, i) =>
      i < 19 ? `fragment F${i} on __Type { ofType { ...F${i + 1} } }` : `fragment F${i} on __Type { name }`,
    ).join('\n');
    const res = await s.gql(`{ __type(name: "Job") { ...F0 } }\n${fragments}`, {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /depth limit of \d+ exceeded/);
    await expectHealthy();
  });

  test('the introspection cycle types -> fields -> type -> fields is refused', async () => {
    // ofType chains end after a few levels, but fields/type cycles grow exponentially; armor
    // ignores __schema (Sandbox needs it in development) so Apollo's own rule must catch it.
    let inner = 'name';
    for (let i = 0; i < 8; i++) inner = `fields { type { ${inner} } }`;
    const res = await s.gql(`{ __schema { types { ${inner} } } }`, {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /introspection depth/i);
    await expectHealthy();
  });

  test('the deepest real path through the schema still runs', async () => {
    const res = await s.gql(`{ jobs(first: 5) { edges { node { auditTrail { __typename actorId } result { testCases { steps } } } } } }`, {}, token);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.jobs.edges).toEqual(expect.any(Array));
  });

  test('the same path composed of fragments, as Apollo Client writes it, is not over-counted', async () => {
    const res = await s.gql(
      `query JobList { jobs(first: 20) { edges { node { ...JobCard } } pageInfo { ...Page } } }
       fragment Page on PageInfo { hasNextPage endCursor }
       fragment JobCard on Job { id title status result { ...Result } }
       fragment Result on JobResult { requirementCount testCases { ...TC } }
       fragment TC on TestCase { id requirementId steps }`,
      {},
      token,
    );
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.jobs.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
  });

  test('300 aliases are refused by the alias limit', async () => {
    const aliases = Array.from({ length: 300 }, (_, i) => `a${i}: userId`).join(' ');
    const res = await s.gql(`{ viewer { ${aliases} } }`, {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /Aliases limit of \d+ exceeded, found 300/);
    await expectHealthy();
  });

  test('a document of more than 1000 tokens is refused as a 400 parse failure', async () => {
    const res = await s.gql(`{ ${Array.from({ length: 1200 }, () => '__typename').join(' ')} }`, {}, token);
    expectRejected(res, 'GRAPHQL_PARSE_FAILED', /1000 tokens/);
    await expectHealthy();
  });

  test('a plain syntax error is a 400 parse failure, never a 500', async () => {
    const res = await s.gql('{ viewer { ', {}, token);
    expectRejected(res, 'GRAPHQL_PARSE_FAILED', /Syntax Error/);
    expect(res.body.errors![0].extensions.requestId).toEqual(expect.any(String));
  });

  test('60 directives on one field are refused by the directive limit', async () => {
    const res = await s.gql(`{ __typename ${Array.from({ length: 60 }, () => '@include(if: true)').join(' ')} }`, {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /Directives limit of \d+ exceeded, found 60/);
    await expectHealthy();
  });

  test('circular fragments are refused by validation', async () => {
    const res = await s.gql('{ viewer { ...A } } fragment A on Viewer { userId ...B } fragment B on Viewer { email ...A }', {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /Cannot spread fragment "A" within itself/);
    await expectHealthy();
  });

  test('in development a misspelled field gets a suggestion', async () => {
    // The contrast with production (no suggestion) is tested in graphql-production.test.ts.
    const res = await s.gql('{ viewr { userId } }', {}, token);
    expectRejected(res, 'GRAPHQL_VALIDATION_FAILED', /Did you mean "viewer"\?/);
  });
});

describe('HTTP transport', () => {
  test('an array batch is refused and none of its operations runs', async () => {
    const before = await jobCount();
    const res = await post(JSON.stringify([{ query: CREATE }, { query: CREATE }]));
    expect(res.status).toBe(400);
    expect(res.body.errors![0].extensions.code).toBe('BAD_REQUEST');
    expect(res.body.errors![0].message).toMatch(/batching/i);
    expect(await jobCount()).toBe(before);
    await expectHealthy();
  });

  test('GET without a preflight-forcing header is blocked as CSRF', async () => {
    const res = await fetch(`${s.url}?query=${encodeURIComponent('{ viewer { userId } }')}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].message).toMatch(/Cross-Site Request Forgery/);
  });

  test('a query over GET with a preflight header runs, a mutation over GET is refused', async () => {
    const headers = { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' };
    const q = await fetch(`${s.url}?query=${encodeURIComponent('{ viewer { userId } }')}`, { headers });
    expect(q.status).toBe(200);
    expect(await q.json()).toEqual({ data: { viewer: { userId: 'user_hardening' } } });

    const before = await jobCount();
    const m = await fetch(`${s.url}?query=${encodeURIComponent(CREATE)}`, { headers });
    expect(m.status).toBe(405);
    const body = (await m.json()) as any;
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(body.errors[0].message).toMatch(/GET requests only support query operations/);
    expect(await jobCount()).toBe(before);
    await expectHealthy();
  });

  test.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'a POST with content type %s is blocked as CSRF and nothing runs',
    async (contentType) => {
      const before = await jobCount();
      const res = await post(JSON.stringify({ query: CREATE }), contentType);
      expect(res.status).toBe(400);
      expect(res.body.errors![0].extensions.code).toBe('BAD_REQUEST');
      expect(res.body.errors![0].message).toMatch(/Cross-Site Request Forgery/);
      expect(await jobCount()).toBe(before);
      await expectHealthy();
    },
  );

  test('a body over 2 MiB is refused with 413 BAD_REQUEST', async () => {
    const res = await post(JSON.stringify({ query: '{ __typename }', variables: { pad: 'a'.repeat(2 * 1024 * 1024 + 1024) } }));
    expect(res.status).toBe(413);
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'BAD_REQUEST', requestId: expect.any(String) });
    await expectHealthy();
  });

  test('a malformed JSON body is refused with 400 BAD_REQUEST', async () => {
    const res = await post('{"query": "{ viewer { userId } }", ');
    expect(res.status).toBe(400);
    expect(res.body.errors![0].extensions.code).toBe('BAD_REQUEST');
    expect(res.body.errors![0].message).toMatch(/not valid JSON/);
    await expectHealthy();
  });

  test('/readyz reports the storage ready', async () => {
    const res = await fetch(`http://127.0.0.1:${s.port}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready' });
  });

  test('x-request-id is echoed when well-formed and replaced when not', async () => {
    const given = await s.gql('{ viewer { userId } }', {}, token, { 'x-request-id': 'client-req-42' });
    expect(given.headers.get('x-request-id')).toBe('client-req-42');
    const hostile = await s.gql('{ viewer { userId } }', {}, token, { 'x-request-id': 'bad id\twith<script>' });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('the development landing page is the embedded Sandbox', async () => {
    const res = await fetch(s.url, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('new window.EmbeddedSandbox(');
    expect(html).toContain('"includeCookies":false');
  });
});

describe('arguments and internal errors', () => {
  test('first: 1000000 as a variable is BAD_USER_INPUT naming the argument', async () => {
    const res = await s.gql('query($n: Int) { jobs(first: $n) { edges { cursor } } }', { n: 1_000_000 }, token);
    const err = res.body.errors![0];
    expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(err.message).toMatch(/between 0 and 100/);
    expect(res.body.data).toBeNull();
  });

  test('first: 1000000 as a literal gets the same BAD_USER_INPUT as the variable form', async () => {
    const res = await s.gql('{ jobs(first: 1000000) { edges { cursor } } }', {}, token);
    expect(res.status).toBe(200);
    expect(res.body.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(res.body.data).toBeNull();
  });

  test('an internal error is masked as INTERNAL_SERVER_ERROR with the request id, no SQL, no stack', async () => {
    await s.db.exec('ALTER TABLE jobs RENAME TO jobs_x');
    let res: GqlResponse<any> | undefined;
    try {
      // A status filter always reads the table (an unfiltered first page may come from memory).
      res = await s.gql('{ jobs(status: PENDING) { edges { cursor } } }', {}, token, { 'x-request-id': 'req-internal-1' });
    } finally {
      await s.db.exec('ALTER TABLE jobs_x RENAME TO jobs');
    }
    const err = res!.body.errors![0];
    expect(err.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: 'req-internal-1' });
    const text = JSON.stringify(res!.body);
    expect(text).not.toMatch(/jobs_x|relation|SELECT|FROM|does not exist|\bat \S+:\d+/i);
    expect(err.message).toMatch(/requestId/);
    await expectHealthy();
    const after = await s.gql('{ jobs { edges { cursor } } }', {}, token);
    expect(after.body.errors).toBeUndefined();
  });
});
