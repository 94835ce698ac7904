import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { canonicalJson, sha256Hex } from '../src/audit/canonical';
import type { ExportManifest } from '../src/audit/export/format';
import { exportAuditTrail } from '../src/audit/export/write';
import { runAuditCommand } from '../src/cli/audit';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import type { Database } from '../src/store/database';
import { newSigner, seedTrail } from './helpers/auditFixture';
import { openTestDatabase } from './helpers/server';

// scripts/verify-audit-export.mjs is written from docs/audit-format.md alone (node: built-ins, no
// import from src/). Here it and `npm run audit -- verify --file` (its command, run in-process)
// judge the same exports, clean and tampered every way verify knows: both must agree.

const SCRIPT = path.join(__dirname, '..', 'scripts', 'verify-audit-export.mjs');
const run = promisify(execFile);
let db: Database;
let tmp: string;
let clean: string;
const signer = newSigner();
let keyFile: string;

beforeAll(async () => {
  db = await openTestDatabase();
  await seedTrail(db, signer);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-standalone-'));
  clean = path.join(tmp, 'clean');
  await exportAuditTrail(db, { outDir: clean, publicKey: { keyId: signer.keyId, pem: signer.publicKeyPem } });
  keyFile = path.join(tmp, 'key.pem');
  fs.writeFileSync(keyFile, signer.publicKeyPem);
});
afterAll(async () => {
  await db?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

type Line = Record<string, unknown> & { seq: number; stream: string; stream_seq: number; canonical: string; hash: string };
interface Export {
  dir: string;
  manifest: ExportManifest;
  file: string;
  lines: Line[];
}

/** A copy of the clean export to tamper with: one day file (the fixture writes its events within seconds). */
function copyOfClean(name: string): Export {
  const dir = path.join(tmp, name);
  fs.cpSync(clean, dir, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
  const file = path.join(dir, manifest.files[0].name);
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  return { dir, manifest, file, lines };
}

/** Writes the lines and the manifest back; `fixManifest`: as a forger who updates the file's sha256 and count. */
function save(x: Export, { fixManifest = true } = {}): void {
  const text = x.lines.map((l) => JSON.stringify(l) + '\n').join('');
  fs.writeFileSync(x.file, text);
  if (fixManifest) Object.assign(x.manifest.files[0], { sha256: crypto.createHash('sha256').update(text).digest('hex'), lines: x.lines.length });
  fs.writeFileSync(path.join(x.dir, 'manifest.json'), JSON.stringify(x.manifest, null, 2));
}

/** A line changed and its canonical text and hash recomputed, as a careful forger would. */
function rehash(l: Line, change: Record<string, unknown>, canonicalChange: Record<string, unknown>): Line {
  const canonical = canonicalJson({ ...JSON.parse(l.canonical), ...canonicalChange });
  return { ...l, ...change, canonical, hash: sha256Hex(canonical) };
}

const sealedUpto = (x: Export) => Number(x.manifest.checkpoints[x.manifest.checkpoints.length - 1].upto_seq);
/** The last line of a stream with at least two lines, and a line of a stream with a successor. */
const streamsOf = (x: Export) => {
  const by = new Map<string, number[]>();
  x.lines.forEach((l, i) => by.set(l.stream, [...(by.get(l.stream) ?? []), i]));
  return [...by.values()];
};

const CASES: [string, string, (x: Export) => void, boolean?][] = [
  ['clean', 'intact', () => undefined],
  ['a field edited (user_email)', 'edited-field', (x) => void (x.lines[1].user_email = 'someone.else@example.com')],
  ['an ALCOA flag flipped', 'edited-field', (x) => void (x.lines[2].alcoa_attributable = false)],
  ['the canonical text edited, hash kept', 'edited-event', (x) => void (x.lines[0].canonical = x.lines[0].canonical.replace('Job', 'Jab'))],
  ['an event rewritten and re-hashed, with a successor in its stream', 'edited-event', (x) => {
    const i = streamsOf(x).find((s) => s.length > 1)![0];
    x.lines[i] = rehash(x.lines[i], { reason: 'forged' }, { reason: 'forged' });
  }],
  ['the head of a stream rewritten and re-hashed (sealed)', 'altered-interval', (x) => {
    const stream = streamsOf(x).find((s) => s.length > 1 && x.lines[s[s.length - 1]].seq <= sealedUpto(x))!;
    const i = stream[stream.length - 1];
    x.lines[i] = rehash(x.lines[i], { reason: 'forged' }, { reason: 'forged' });
  }],
  ['a sealed event deleted', 'deleted-event', (x) => void x.lines.splice(3, 1)],
  ['an event duplicated', 'inserted-event', (x) => void x.lines.splice(4, 0, { ...x.lines[4] })],
  ['two events swapped in the file', 'reordered-event', (x) => void ([x.lines[5], x.lines[6]] = [x.lines[6], x.lines[5]])],
  ['the sealed tail cut off', 'truncated-tail', (x) => void (x.lines = x.lines.filter((l) => l.seq <= Number(x.manifest.checkpoints[0].upto_seq) - 2))],
  ['a checkpoint digest forged', 'forged-checkpoint', (x) => void (x.manifest.checkpoints[1].digest = 'f'.repeat(64)), true],
  ['a checkpoint removed from the manifest', 'deleted-checkpoint', (x) => void x.manifest.checkpoints.shift()],
  ['a day file changed without its manifest entry', 'altered-export', () => undefined, false],
];

describe('the standalone verifier and `audit verify --file` agree', () => {
  test.each(CASES)('%s: %s', async (name, expected, tamper, pin = false) => {
    const x = copyOfClean(`case-${name.replace(/\W+/g, '-')}`);
    tamper(x);
    if (name.startsWith('a day file changed')) {
      save(x, { fixManifest: false });
      fs.appendFileSync(x.file, '\n'); // a blank line: no event changes, the file's bytes do
    } else if (name !== 'clean') save(x);

    const lines: string[] = [];
    const keyArgs = pin ? ['--public-key', keyFile] : [];
    const ours = await runAuditCommand(['verify', '--file', x.dir, ...keyArgs], loadConfig({ NODE_ENV: 'test', DATA_DIR: tmp }), createLogger('silent'), (l) => lines.push(l));
    const ourKinds = [...new Set([...lines.join('\n').matchAll(/\[([a-z-]+)\]/g)].map((m) => m[1]))];

    const theirs = await run(process.execPath, [SCRIPT, x.dir, '--json', ...keyArgs]).then(
      (r) => ({ code: 0, out: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    const report = JSON.parse(theirs.out) as { ok: boolean; findings: { kind: string }[] };
    const theirKinds = [...new Set(report.findings.map((f) => f.kind))];

    expect({ ours: ours, theirs: theirs.code }).toEqual(expected === 'intact' ? { ours: 0, theirs: 0 } : { ours: 1, theirs: 1 });
    if (expected !== 'intact') {
      expect(ourKinds).toContain(expected);
      expect(theirKinds).toContain(expected);
    }
  });

  test('the standalone verifier pinned to a key that did not sign: both say forged', async () => {
    const other = path.join(tmp, 'other.pem');
    fs.writeFileSync(other, crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const theirs = await run(process.execPath, [SCRIPT, clean, '--json', '--public-key', other]).catch((e: { code: number; stdout: string }) => e);
    expect((theirs as { code: number }).code).toBe(1);
    const lines: string[] = [];
    const ours = await runAuditCommand(['verify', '--file', clean, '--public-key', other], loadConfig({ NODE_ENV: 'test', DATA_DIR: tmp }), createLogger('silent'), (l) => lines.push(l));
    expect(ours).toBe(1);
    expect(JSON.parse((theirs as { stdout: string }).stdout).findings[0].kind).toBe('forged-checkpoint');
    expect(lines.join('\n')).toContain('[forged-checkpoint]');
  });

  test('the script imports nothing but node: built-ins', () => {
    const source = fs.readFileSync(SCRIPT, 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((m) => !m.startsWith('node:'))).toEqual([]);
  });
});
