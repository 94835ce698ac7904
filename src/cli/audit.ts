import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createCheckpoint } from '../audit/checkpoint/create';
import { auditDir, loadCheckpointSigner, localCheckpointPublicKey, readPublicKeyFile, keyIdOf } from '../audit/checkpoint/key';
import { DEFAULT_EXPORT_DIR, exportAuditTrail } from '../audit/export/write';
import { databaseSource } from '../audit/verify/databaseSource';
import type { AuditSource } from '../audit/verify/types';
import { exportDirectorySource } from '../audit/export/source';
import { verifyAuditTrail, type VerifyReport } from '../audit/verify/verify';
import { chooseFromJournal, journalFile, legacyJournalFile, readJournal } from '../audit/checkpoint/journal';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Database } from '../store/database';
import { openDatabase, openMigratedDatabase } from '../store/open';

export const AUDIT_USAGE = `usage: npm run audit -- <subcommand>
  verify [--file DIR] [--checkpoints FILE] [--public-key PEMFILE]
        check the database (or an export directory) for edited, deleted, inserted or reordered
        events and a truncated tail; exit 0 when intact, 1 when tampering is found
  export [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--out DIR] [--no-seal]
        write daily audit_YYYYMMDD.jsonl files and manifest.json (default out ${DEFAULT_EXPORT_DIR});
        a checkpoint is taken first unless --no-seal
  checkpoint
        seal every event appended so far with a signed checkpoint`;

type Out = (line: string) => void;

/** `npm run audit -- ...`: 0 intact / done, 1 tampering found, 2 usage or setup error. */
export async function runAuditCommand(args: string[], config: Config, log: Logger, out: Out = (l) => console.log(l)): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    out(AUDIT_USAGE);
    return 0;
  }
  try {
    switch (sub) {
      case 'verify':
        return await verifyCommand(rest, config, log, out);
      case 'export':
        return await exportCommand(rest, config, log, out);
      case 'checkpoint':
        return await withDb(config, log, true, async (db) => {
          const cp = await createCheckpoint(db, loadCheckpointSigner(config));
          out(cp ? `checkpoint #${cp.id} seals seq ..${cp.uptoSeq} (${cp.eventCount} events), digest ${cp.digest}, key ${cp.keyId}` : 'Nothing new to seal.');
          return 0;
        });
      default:
        out(AUDIT_USAGE);
        return 2;
    }
  } catch (err) {
    out(`audit ${sub}: ${(err as Error).message}`);
    return 2;
  }
}

async function withDb(config: Config, log: Logger, migrate: boolean, fn: (db: Database) => Promise<number>): Promise<number> {
  const db = migrate ? await openMigratedDatabase(config, log) : await openDatabase(config, log);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function verifyCommand(args: string[], config: Config, log: Logger, out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { file: { type: 'string' }, checkpoints: { type: 'string' }, 'public-key': { type: 'string' } } });
  const publicKeyPem = values['public-key'] ? readPublicKeyFile(values['public-key']) : values.file ? null : localCheckpointPublicKey(config);
  const run = async (source: AuditSource) => {
    out(`Verifying the audit trail in the ${source.describe}`);
    const trailId = await source.trailId();
    out(`  trail:        ${trailId ?? 'no identity yet (no checkpoint taken)'}`);
    if (values['public-key']) out(`  pinned key:   ${keyIdOf(publicKeyPem!)} (${values['public-key']})`);
    // The local journal (the copy of the checkpoints kept outside the database) is used by default when it exists.
    const journal = values.checkpoints ?? (values.file ? undefined : defaultJournal(config.dataDir, trailId));
    let externalCheckpoints;
    if (journal) {
      const choice = await chooseFromJournal(journal, await readJournal(journal), trailId, (digests) => heldDigests(source, digests));
      externalCheckpoints = choice.checkpoints;
      out(`  checkpoints file: ${journal} (${externalCheckpoints.length} checkpoints of this trail)`);
      for (const note of choice.notes) out(`  note: ${note}`);
    }
    const started = process.hrtime.bigint();
    const report = await verifyAuditTrail(source, { publicKeyPem, externalCheckpoints });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const lines = formatReport(report);
    // With the figures, before the verdict and the findings.
    lines.splice(Math.max(1, lines.findIndex((l) => l.startsWith('  events:')) + 1), 0, `  took:         ${seconds.toFixed(2)} s (${Math.round(report.events / Math.max(seconds, 1e-3)).toLocaleString('en-US')} events/s)`);
    for (const line of lines) out(line);
    return report.ok ? 0 : 1;
  };
  if (values.file) return run(exportDirectorySource(values.file));
  return withDb(config, log, false, (db) => run(databaseSource(db)));
}

async function exportCommand(args: string[], config: Config, log: Logger, out: Out): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, 'no-seal': { type: 'boolean' } },
  });
  const from = values.from ? parseDate(values.from, 'from') : null;
  const to = values.to ? parseDate(values.to, 'to') : null;
  const outDir = values.out ?? DEFAULT_EXPORT_DIR;
  return withDb(config, log, false, async (db) => {
    let publicKey: { keyId: string; pem: string } | null = null;
    if (!values['no-seal']) {
      const signer = loadCheckpointSigner(config);
      const cp = await createCheckpoint(db, signer);
      if (cp) out(`Sealed: checkpoint #${cp.id} covers seq ..${cp.uptoSeq} (${cp.eventCount} events).`);
      publicKey = { keyId: signer.keyId, pem: signer.publicKeyPem };
    } else {
      const pem = localCheckpointPublicKey(config);
      publicKey = pem ? { keyId: keyIdOf(pem), pem } : null;
    }
    const m = await exportAuditTrail(db, { outDir, from, to, publicKey });
    const lastCp = m.checkpoints[m.checkpoints.length - 1] ?? m.base_checkpoint;
    out(`Exported ${m.covered.events} events (seq ${m.covered.after_seq + 1}..${m.covered.upto_seq}) to ${outDir}: ${m.files.length} day file(s) and manifest.json`);
    for (const f of m.files) out(`  ${f.name}  ${f.lines} events  sha256 ${f.sha256}`);
    out(`  sealed by ${m.checkpoints.length} checkpoint(s)${lastCp ? ` up to seq ${lastCp.upto_seq}` : ''}; verify with: npm run audit -- verify --file ${outDir}`);
    return 0;
  });
}

/**
 * Only what the usage says: YYYY-MM-DD, a whole UTC day (--to includes it). Date's own parser
 * read 01/11/2026 as January 11th, a guess an audit export must not make.
 */
function parseDate(text: string, which: 'from' | 'to'): Date {
  const d = new Date(`${text}T00:00:00.000Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== text) {
    throw new Error(`--${which} must be a day as YYYY-MM-DD (UTC), e.g. 2026-11-01 (got "${text}").`);
  }
  return which === 'to' ? new Date(d.getTime() + 86_400_000) : d;
}

const existing = (file: string) => (fs.existsSync(file) ? file : undefined);

/** This trail's journal in DATA_DIR/audit; else the untagged journal of versions before trail identities. */
const defaultJournal = (dataDir: string, trailId: string | null) =>
  (trailId ? existing(journalFile(auditDir(dataDir), trailId)) : undefined) ?? existing(legacyJournalFile(auditDir(dataDir)));

/** Which of these checkpoint digests the source holds (which untagged journal lines are this trail's). */
async function heldDigests(source: AuditSource, digests: string[]): Promise<Set<string>> {
  const wanted = new Set(digests);
  const held = new Set<string>();
  const base = await source.base();
  if (base && wanted.has(base.digest)) held.add(base.digest);
  for await (const c of source.checkpoints()) if (wanted.has(c.digest)) held.add(c.digest);
  return held;
}
const n = (x: number) => x.toLocaleString('en-US');

export function formatReport(r: VerifyReport): string[] {
  const lines = [
    `  events:       ${n(r.events)}${r.firstSeq !== null ? ` (seq ${r.firstSeq}..${r.lastSeq})` : ''} in ${n(r.streams)} streams`,
    `  checkpoints:  ${n(r.checkpointsVerified)} checked${r.keyId ? `, key ${r.keyId}` : ''}; sealed up to seq ${r.sealedUptoSeq} (${n(r.sealedEventCount)} events)`,
  ];
  if (r.unsealed > 0) lines.push(`  unsealed (${n(r.unsealed)} events): after seq ${r.sealedUptoSeq}, not yet covered by a checkpoint (not an error)`);
  if (r.checkpointsVerified === 0 && r.events > 0) lines.push('  note: with no checkpoint, a deleted tail or a deleted whole stream cannot be detected');
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.ok) {
    lines.push('INTACT: no tampering found.');
    return lines;
  }
  const f = r.first!;
  const where = f.seq === Number.MAX_SAFE_INTEGER ? 'export files' : `seq ${f.seq}${f.eventId ? ` (id ${f.eventId})` : ''}`;
  lines.push(`TAMPERED: first affected event ${where}: ${f.message}`);
  lines.push(`  ${r.findingsTotal} finding(s)${r.findingsTotal > r.findings.length ? `, the first ${r.findings.length} listed` : ''}:`);
  for (const x of r.findings.slice(0, 50)) {
    lines.push(`  - ${x.seq === Number.MAX_SAFE_INTEGER ? '' : `seq ${x.seq} `}[${x.kind}] ${x.message}`);
  }
  return lines;
}
