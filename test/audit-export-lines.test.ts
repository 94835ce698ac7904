import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sha256Hex } from '../src/audit/canonical';
import { exportAuditTrail } from '../src/audit/export/write';
import type { ExportManifest } from '../src/audit/export/format';
import { checkExportLineFast } from '../src/audit/verify/fast/lineWalk';
import { appendEvent } from '../src/audit/trail';
import { checkExportLineInFull } from '../src/audit/verify/self';
import type { Database } from '../src/store/database';
import { ALICE, newSigner, seedTrail } from './helpers/auditFixture';
import { openTestDatabase } from './helpers/server';

// verify --file checks a line by its tokens when the line is as export wrote it (lineWalk.ts),
// and parses it in full otherwise. The fast path must never say anything the full check would not:
// for every line, intact or altered, it either steps aside (undefined) or gives the same result.

let db: Database;
let lines: string[];

beforeAll(async () => {
  db = await openTestDatabase();
  const signer = newSigner();
  await seedTrail(db, signer);
  const odd = { ...ALICE, actorEmail: 'o\'brien+"quoted"@example.com', userAgent: 'Mozilla "x" \\ tab\t\u0001 \u2028 ü 😀', requestId: null };
  const append = (after: unknown, reason: string | null) =>
    db.transaction((tx) => appendEvent(tx, { stream: 'user:odd', mode: 'shared', action: 'session.revoked', occurredAt: new Date(), actor: odd, reason, after }));
  await append({ z: [1, 1.5, -2, 1e21, 1e-7, true, null, 'ü'], 'é key': { '': '', deep: 'x"y\\z\n' }, A: {}, status: 'DONE' }, 'line one\nline "two"');
  await append({ request_id: 'nested key named like a line field', a: 1 }, null);
  await append({ b: 2, request_id: 3, a: { after: 1 } }, '');
  await append([1, 2, 3], 'x');
  await append('a plain string', null);
  await append(null, null);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-lines-'));
  const m: ExportManifest = await exportAuditTrail(db, { outDir: dir, publicKey: { keyId: signer.keyId, pem: signer.publicKeyPem } });
  lines = m.files.flatMap((f) => fs.readFileSync(path.join(dir, f.name), 'utf8').trim().split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
afterAll(() => db?.close());

/** The fast path's answer, held to the full check's. */
function agrees(line: string): 'fast' | 'stepped aside' {
  const fast = checkExportLineFast(line);
  if (fast === undefined) return 'stepped aside';
  expect(fast).toEqual(checkExportLineInFull(line));
  return 'fast';
}

test('every intact line, odd content included, is checked by the fast path, with the full check\'s result', () => {
  expect(lines.length).toBeGreaterThanOrEqual(20);
  // A before/after holding a key named like the line field after it (",\"after\":" in before,
  // ",\"request_id\":" in after) hides where its token ends: those lines are parsed in full.
  const hidesItsEnd = (l: string) => {
    const p = JSON.parse(l) as { before: unknown; after: unknown };
    return JSON.stringify(p.before).includes(',"after":') || JSON.stringify(p.after).includes(',"request_id":');
  };
  const outcomes = lines.map((l) => [agrees(l), hidesItsEnd(l)]);
  expect(outcomes.filter(([, hides]) => hides)).toHaveLength(2);
  for (const [outcome, hides] of outcomes) expect(outcome).toBe(hides ? 'stepped aside' : 'fast');
});

test.each<[string, (l: string) => string, 'fast' | 'stepped aside']>([
  ['a different action (canonical untouched)', (l) => l.replace('"action":"', '"action":"x'), 'stepped aside'],
  ['the action as a number in both line and canonical', (l) => l.replace(/"action":"[^"]*"/, '"action":5').replace(/\\"action\\":\\"[^\\]*\\"/, '\\"action\\":5'), 'stepped aside'],
  ['stream_seq as -0', (l) => l.replace(/"stream_seq":\d+/, '"stream_seq":-0'), 'stepped aside'],
  ['seq written 1e1', (l) => l.replace(/^\{"seq":\d+/, '{"seq":1e1'), 'stepped aside'],
  ['a timestamp without milliseconds', (l) => l.replace(/("timestamp":"[^"]*)\.\d{3}Z"/, '$1Z"'), 'stepped aside'],
  ['a space after a colon', (l) => l.replace('"ip":', '"ip": '), 'stepped aside'],
  ['an extra key', (l) => l.replace('"reason":', '"extra":1,"reason":'), 'stepped aside'],
  ['an escaped character in a string', (l) => l.replace('"user_id":"user_', '"user_id":"\\u0075ser_'), 'stepped aside'],
  ['alcoa_attributable flipped', (l) => l.replace('"alcoa_attributable":true', '"alcoa_attributable":false'), 'stepped aside'],
  ['alcoa_contemporaneous as a string', (l) => l.replace('"alcoa_contemporaneous":true', '"alcoa_contemporaneous":"true"'), 'stepped aside'],
  ['a wrong hash (everything else intact)', (l) => l.replace(/"hash":"[0-9a-f]{64}"/, `"hash":"${'0'.repeat(64)}"`), 'fast'],
  ['a trailing space', (l) => `${l} `, 'stepped aside'],
  ['not JSON at all', () => '{"seq":1,"id":', 'stepped aside'],
])('%s', (_name, change, expected) => {
  const line = lines.find((l) => l.includes('"alcoa_attributable":true') && l.includes('"action":"job.'))!;
  const changed = change(line);
  expect(changed).not.toBe(line);
  expect(agrees(changed)).toBe(expected);
});

test('a canonical text rewritten and re-hashed with the line to match: the same verdict both ways', () => {
  const line = lines.find((l) => l.includes('"reason":"Submitted the wrong document"'))!;
  const parsed = JSON.parse(line) as Record<string, unknown>;
  const canonical = String(parsed.canonical).replace('Submitted the wrong document', 'Routine cleanup');
  const forged = JSON.stringify({ ...parsed, reason: 'Routine cleanup', canonical, hash: sha256Hex(canonical) });
  expect(agrees(forged)).toBe('fast'); // self-consistent: only the chain (next prev_hash) can tell
  expect(checkExportLineFast(forged)!.self).toBeNull();
});

test('2,000 random one-character edits: the fast path never disagrees with the full check', () => {
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  const alphabet = '"\\{}[],:0123456789abcdefnulltrue -_.\u00e9';
  const counts = { fast: 0, 'stepped aside': 0 };
  for (let i = 0; i < 2000; i++) {
    const line = lines[rand(lines.length)];
    const at = rand(line.length);
    const changed = line.slice(0, at) + alphabet[rand(alphabet.length)] + line.slice(at + 1);
    counts[agrees(changed)]++;
  }
  // Some edits leave the line intact or only change the stored hash: those stay on the fast path.
  expect(counts['stepped aside']).toBeGreaterThan(1000);
});
