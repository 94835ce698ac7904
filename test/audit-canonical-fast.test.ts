import { canonicalFields } from '../src/audit/event';
import { randomUUID } from 'node:crypto';
import { canonicalJson } from '../src/audit/canonical';
import { canonicalTextOf, isoString } from '../src/audit/verify/fast/canonicalText';
import type { AuditEventRecord } from '../src/audit/event';

// verify trusts canonicalTextOf(e) === e.canonical to mean "the columns agree": it must be
// byte-identical to the serialiser the trail hashes with, or decline (null).

let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
const STRINGS = ['', 'plain', 'quote " and \\ backslash', 'tab\tnewline\n', '\u0000\u001f\u007f', 'é ü 😀 𝄞', '\u2028\u2029', '\ud800 lone', '__proto__', 'a'.repeat(300)];
const NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53, Number.MAX_VALUE, 123456.789];

function randomJson(depth: number): unknown {
  const r = rand();
  if (depth > 2 || r < 0.3) return pick<unknown>([null, true, false, pick(STRINGS), pick(NUMBERS)]);
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[pick(STRINGS.concat(['status', 'B', 'a', 'Z', '10', '9']))] = randomJson(depth + 1);
  return o;
}

const nullable = (v: string) => (rand() < 0.3 ? null : v);
function randomEvent(): AuditEventRecord {
  return {
    seq: String(Math.floor(rand() * 1e6)),
    id: randomUUID(),
    stream: `job:${pick(STRINGS)}`,
    streamSeq: Math.floor(rand() * 1000) + 1,
    action: pick(['job.created', 'access.denied', pick(STRINGS)]),
    occurredAt: new Date(Math.floor(rand() * 253402300799999)),
    actorId: pick(STRINGS),
    actorEmail: nullable(pick(STRINGS)),
    sessionId: nullable(pick(STRINGS)),
    tokenIssuedAt: rand() < 0.3 ? null : new Date(Math.floor(rand() * 4e12)),
    impersonatorId: nullable(pick(STRINGS)),
    jobId: nullable(randomUUID()),
    reason: nullable(pick(STRINGS)),
    // As node-postgres and JSON.parse hand them over (an own "__proto__" key included).
    before: JSON.parse(JSON.stringify(randomJson(0)) ?? 'null'),
    after: JSON.parse(JSON.stringify(randomJson(0)) ?? 'null'),
    requestId: nullable(pick(STRINGS)),
    ip: nullable('10.0.0.1'),
    userAgent: nullable(pick(STRINGS)),
    canonical: '',
    hash: 'h',
    prevHash: nullable('p'.repeat(64)),
  };
}

test('equals canonicalJson(canonicalFields(e)) on 5,000 varied events', () => {
  for (let i = 0; i < 5000; i++) {
    const e = randomEvent();
    expect(canonicalTextOf(e)).toBe(canonicalJson(canonicalFields(e)));
  }
});

test('declines what it cannot reproduce for certain, rather than guessing', () => {
  const base = randomEvent();
  const cases: Partial<AuditEventRecord>[] = [
    { occurredAt: new Date(NaN) },
    { tokenIssuedAt: undefined as unknown as null },
    { streamSeq: Number.NaN },
    { actorEmail: undefined as unknown as null },
    { action: 5 as unknown as string },
    { after: { when: new Date(0) } },
    { after: { n: Number.POSITIVE_INFINITY } },
    { before: [1, , 3] }, // eslint-disable-line no-sparse-arrays
    { before: { big: BigInt(1) } },
    { after: Object.create({ inherited: 1 }) },
  ];
  for (const c of cases) expect(canonicalTextOf({ ...base, ...c })).toBeNull();
});

test('isoString is Date.prototype.toISOString', () => {
  const edges = [-62167219200000, -62167219200001, 253402300799999, 253402300800000, 0, -1, 951782400000, 951868799999, 4107542400000];
  for (const ms of edges) expect(isoString(ms)).toBe(new Date(ms).toISOString());
  for (let i = 0; i < 20000; i++) {
    const ms = Math.floor((rand() - 0.25) * 4 * 253402300800000);
    expect(isoString(ms)).toBe(new Date(ms).toISOString());
  }
});
