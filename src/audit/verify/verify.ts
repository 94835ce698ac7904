import { keyIdOf } from '../checkpoint/key';
import type { CheckpointRecord } from '../checkpoint/record';
import type { AuditSource } from './types';
import { EventChecker } from './chains';
import { Findings, short, type Finding } from './findings';
import { SealChecker } from './seal';

export interface VerifyOptions {
  /** The key checkpoints must be signed with. Without it, a source's embedded key is used (with a warning). */
  publicKeyPem?: string | null;
  /** Checkpoints kept apart from the source (the journal file): a checkpoint missing from the source is a finding. */
  externalCheckpoints?: CheckpointRecord[];
}

export interface VerifyReport {
  ok: boolean;
  source: string;
  events: number;
  firstSeq: number | null;
  lastSeq: number | null;
  streams: number;
  checkpointsVerified: number;
  sealedUptoSeq: number;
  sealedEventCount: number;
  /** Events after the last checkpoint: chained but not yet sealed. Not an error. */
  unsealed: number;
  keyId: string | null;
  /** The first affected event: the lowest seq of any finding. */
  first: Finding | null;
  findings: Finding[];
  findingsTotal: number;
  warnings: string[];
}

/**
 * Streams the whole trail once, in seq order, checking every event, every stream chain and every
 * checkpoint. Memory holds one batch plus one small entry per stream.
 */
export async function verifyAuditTrail(source: AuditSource, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const findings = new Findings();
  const warnings: string[] = [];
  let key = opts.publicKeyPem ?? null;
  if (!key && source.embeddedPublicKeyPem) {
    key = await source.embeddedPublicKeyPem();
    if (key) warnings.push('checkpoint signatures were checked against the key shipped in the export; pin the key with --public-key to detect a re-signed export');
  }
  if (!key) warnings.push('checkpoint signatures were NOT checked: no public key (pass --public-key, or set AUDIT_CHECKPOINT_KEY / DATA_DIR)');

  const base = await source.base();
  const events = new EventChecker(findings, base !== null);
  const seal = new SealChecker(findings, base, key);
  const cps = withExternal(source.checkpoints(), (opts.externalCheckpoints ?? []).filter((c) => c.uptoSeq > (base?.uptoSeq ?? 0)), findings);
  let cpsDone = false;
  const loadThrough = async (seq: number) => {
    while (!cpsDone && seal.lastPushedUpto < seq) {
      const n = await cps.next();
      if (n.done) cpsDone = true;
      else seal.push(n.value);
    }
  };

  let count = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  for await (const batch of source.events()) {
    let max = 0;
    for (const e of batch) max = Math.max(max, Number(e.seq));
    await loadThrough(max);
    for (const e of batch) {
      const seq = Number(e.seq);
      events.check(e, seq);
      seal.event(seq, e.id, e.hash);
      firstSeq ??= seq;
      lastSeq = Math.max(lastSeq ?? seq, seq);
      count++;
    }
  }
  await loadThrough(Number.MAX_SAFE_INTEGER);
  seal.finish();
  events.finish();
  for (const p of (await source.problems?.()) ?? []) {
    findings.add({ kind: 'altered-export', seq: Number.MAX_SAFE_INTEGER, eventId: null, message: p.message });
  }
  const sorted = findings.sorted();
  return {
    ok: findings.total === 0,
    source: source.describe,
    events: count,
    firstSeq,
    lastSeq,
    streams: events.streamCount,
    checkpointsVerified: seal.verified,
    sealedUptoSeq: seal.sealedUpto,
    sealedEventCount: seal.sealedCount,
    unsealed: seal.unsealed,
    keyId: key ? keyIdOf(key) : null,
    first: sorted[0] ?? null,
    findings: sorted,
    findingsTotal: findings.total,
    warnings,
  };
}

/**
 * Merges the source's checkpoints with an external copy (ascending upto_seq). A checkpoint the
 * copy has and the source lacks was deleted: it is reported and used, so the events it sealed
 * are still checked (this is what catches a truncated tail whose checkpoints were deleted too).
 */
async function* withExternal(own: AsyncIterable<CheckpointRecord>, external: CheckpointRecord[], findings: Findings): AsyncGenerator<CheckpointRecord> {
  const ext = [...external].sort((a, b) => a.uptoSeq - b.uptoSeq);
  let i = 0;
  const missing = (c: CheckpointRecord) =>
    findings.add({
      kind: 'deleted-checkpoint',
      seq: c.uptoSeq,
      eventId: null,
      message: `deleted checkpoint: checkpoint #${c.id} (seals seq ..${c.uptoSeq}, ${c.eventCount} events, digest ${short(c.digest)}) is in the external checkpoints file but not in the source`,
    });
  for await (const c of own) {
    for (; i < ext.length && ext[i].uptoSeq < c.uptoSeq; i++) {
      missing(ext[i]);
      yield ext[i];
    }
    if (i < ext.length && ext[i].uptoSeq === c.uptoSeq) {
      const e = ext[i++];
      if (e.digest !== c.digest || e.eventCount !== c.eventCount || e.signature !== c.signature || e.prevDigest !== c.prevDigest) {
        findings.add({
          kind: 'forged-checkpoint',
          seq: c.uptoSeq,
          eventId: null,
          message: `forged checkpoint: checkpoint #${c.id} (seals seq ..${c.uptoSeq}) differs from its copy in the external checkpoints file; the copy is used`,
        });
        yield e;
        continue;
      }
    }
    yield c;
  }
  for (; i < ext.length; i++) {
    missing(ext[i]);
    yield ext[i];
  }
}
