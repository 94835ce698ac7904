import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { checkpointFromJson, checkpointToJson, type CheckpointRecord } from './record';

/**
 * The external checkpoint journal: every checkpoint, as one JSON line, in a file that lives apart
 * from the database (and should be shipped off the host). One file per trail, named by the
 * trail's identity, each line tagged with it: one DATA_DIR may serve several databases in turn.
 */
export const journalFile = (dir: string, trailId: string) => path.join(dir, `checkpoints-${trailId}.jsonl`);

/** Where versions before trail identities journaled every trail, untagged. Read, never written. */
export const legacyJournalFile = (dir: string) => path.join(dir, 'checkpoints.jsonl');

export async function appendJournal(dir: string, trailId: string, c: CheckpointRecord): Promise<string> {
  const file = journalFile(dir, trailId);
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.promises.appendFile(file, JSON.stringify({ trail_id: trailId, ...checkpointToJson(c) }) + '\n', { mode: 0o600 });
  } catch (err) {
    throw new Error(`checkpoint #${c.id} is stored but could not be journaled to ${file}: ${(err as Error).message}`);
  }
  return file;
}

/** A journal's checkpoints by the trail they are tagged with (null: untagged, a legacy line). */
export type Journal = Map<string | null, CheckpointRecord[]>;

/** Reads a journal; within a trail, later duplicates of an upto_seq are ignored. */
export async function readJournal(file: string): Promise<Journal> {
  const byTrail = new Map<string | null, Map<number | string, CheckpointRecord>>();
  const rl = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (!line.trim()) continue;
    let cp: CheckpointRecord;
    let trail: string | null;
    try {
      const json = JSON.parse(line) as Record<string, unknown>;
      cp = checkpointFromJson(json);
      trail = typeof json.trail_id === 'string' ? json.trail_id : null;
    } catch (err) {
      throw new Error(`${file}:${n}: ${(err as Error).message}`);
    }
    let own = byTrail.get(trail);
    if (!own) byTrail.set(trail, (own = new Map()));
    // Untagged lines may come from several trails, whose checkpoints share upto_seqs: keyed by digest.
    const key = trail === null ? cp.digest : cp.uptoSeq;
    if (!own.has(key)) own.set(key, cp);
  }
  return new Map([...byTrail].map(([trail, cps]) => [trail, [...cps.values()]]));
}

/** What to compare a trail with, out of a journal, and what to tell the auditor about the rest. */
export interface JournalChoice {
  checkpoints: CheckpointRecord[];
  notes: string[];
}

/**
 * The journal's checkpoints of trail `trailId` (null: a trail with no identity yet, or an export
 * from before identities). Checkpoints tagged with another trail are never compared: a note says
 * whose they are, instead of calling them forged. Untagged (legacy) lines may mix trails: they are
 * split into chains (prev_digest links), and a chain is compared only when this trail holds at
 * least one of its checkpoints (`held` answers, by digest); the others belong to other trails.
 */
export async function chooseFromJournal(
  file: string,
  journal: Journal,
  trailId: string | null,
  held: (digests: string[]) => Promise<Set<string>>,
): Promise<JournalChoice> {
  const notes: string[] = [];
  const checkpoints = trailId ? [...(journal.get(trailId) ?? [])] : [];
  for (const [other, cps] of journal) {
    if (other === null || other === trailId) continue;
    notes.push(`${file}: ${cps.length} checkpoint(s) belong to another trail (${other}), not to this one (${trailId ?? 'no identity yet'}); they were not compared`);
  }
  const untagged = [...(journal.get(null) ?? [])].sort((a, b) => a.uptoSeq - b.uptoSeq);
  if (untagged.length) {
    const chainOf = new Map<string, number>();
    const chains: CheckpointRecord[][] = [];
    for (const c of untagged) {
      const chain = c.prevDigest !== null ? chainOf.get(c.prevDigest) : undefined;
      const n = chain ?? chains.push([]) - 1;
      chains[n].push(c);
      chainOf.set(c.digest, n);
    }
    const ours = await held(untagged.map((c) => c.digest));
    let foreign = 0;
    for (const chain of chains) {
      if (chain.some((c) => ours.has(c.digest))) checkpoints.push(...chain);
      else foreign += chain.length;
    }
    if (foreign) {
      notes.push(`${file}: ${foreign} untagged checkpoint(s) chain to none of this trail's checkpoints: they belong to another trail and were not compared`);
    }
  }
  return { checkpoints: checkpoints.sort((a, b) => a.uptoSeq - b.uptoSeq), notes };
}
