import { createHash, type Hash } from 'node:crypto';
import { keyIdOf, verifySignature } from '../checkpoint/key';
import { checkpointSigningText, type CheckpointRecord } from '../checkpoint/record';
import { short, type Finding, type Findings } from './findings';

const PENDING_MAX = 256;

/**
 * Replays the checkpoints over the events in seq order: the running digest, the count, the
 * seqs each checkpoint says were never used, the prev_digest chain and the signatures. This is
 * what sees a deleted tail, a deleted whole stream, a seq given to a forged event, and edits
 * that were re-hashed all the way to a stream's head.
 */
export class SealChecker {
  private queue: CheckpointRecord[] = [];
  private current: CheckpointRecord | null = null;
  private prev: { uptoSeq: number; eventCount: number; digest: string | null; id: number | null };
  private hasher: Hash;
  /** Hashes not yet fed to the hasher: one update per PENDING_MAX events instead of one per event. */
  private pending: string[] = [];
  private inInterval = 0;
  private firstInInterval: { seq: number; id: string } | null = null;
  /** Highest seq accounted for, by an event or by a checkpoint closing over a hole. */
  private cursor: number;
  private lastSeq: number;
  private missingIdx = 0;
  private chained = true;
  private truncation: Finding | null = null;
  private truncated = 0;
  readonly trustedKeyId: string | null;
  verified = 0;
  unsealed = 0;
  sealedUpto = 0;
  sealedCount = 0;
  lastPushedUpto = -1;

  constructor(private readonly findings: Findings, base: CheckpointRecord | null, private readonly trustedKey: string | null) {
    this.trustedKeyId = trustedKey ? keyIdOf(trustedKey) : null;
    if (base) this.checkSignature(base, 1, null);
    this.prev = { uptoSeq: base?.uptoSeq ?? 0, eventCount: base?.eventCount ?? 0, digest: base?.digest ?? null, id: base?.id ?? null };
    this.sealedUpto = this.prev.uptoSeq;
    this.sealedCount = this.prev.eventCount;
    this.cursor = this.lastSeq = this.prev.uptoSeq;
    this.hasher = createHash('sha256').update(this.prev.digest ?? '');
  }

  push(cp: CheckpointRecord): void {
    if (cp.uptoSeq <= this.lastPushedUpto || cp.uptoSeq <= this.prev.uptoSeq) return; // sources yield ascending; ignore repeats
    this.lastPushedUpto = cp.uptoSeq;
    if (this.current) this.queue.push(cp);
    else this.open(cp);
  }

  /** A checkpoint that does not chain onto the previous one has an unknown start: only its signature is checked. */
  private open(cp: CheckpointRecord | null): void {
    this.current = cp;
    this.chained = !cp || cp.prevDigest === this.prev.digest;
  }

  event(seq: number, id: string, hash: string): void {
    if (seq < 1) {
      // Identity values start at 1: only a row written with OVERRIDING SYSTEM VALUE sits here.
      this.findings.add({ kind: 'inserted-event', seq, eventId: id, message: `inserted event: seq ${seq} is below 1, where sequence numbers start; no event is ever given it` });
      return;
    }
    if (seq <= this.lastSeq) {
      this.findings.add({
        kind: seq === this.lastSeq ? 'inserted-event' : 'reordered-event',
        seq,
        eventId: id,
        message: seq === this.lastSeq ? `inserted event: a second event holds seq ${seq}` : `reordered event: seq ${seq} appears after seq ${this.lastSeq}`,
      });
      return;
    }
    this.lastSeq = seq;
    while (this.current && seq > this.current.uptoSeq) this.close(false);
    const cp = this.current;
    if (!cp) {
      this.unsealed++;
      return;
    }
    this.hole(this.cursor + 1, seq - 1, false);
    this.cursor = seq;
    if (cp.missingSeqs && this.chained) {
      const m = cp.missingSeqs;
      while (this.missingIdx < m.length && m[this.missingIdx] < seq) this.missingIdx++;
      if (m[this.missingIdx] === seq) {
        this.findings.add({
          kind: 'inserted-event',
          seq,
          eventId: id,
          message: `inserted event: seq ${seq} was unused when checkpoint #${cp.id} sealed seq ${this.prev.uptoSeq + 1}..${cp.uptoSeq}; this event was put there afterwards`,
        });
      }
    }
    this.firstInInterval ??= { seq, id };
    if (this.pending.push(hash) === PENDING_MAX) this.flush();
    this.inInterval++;
  }

  /** Events are exhausted: whatever the remaining checkpoints sealed and is not here was cut off. */
  finish(): void {
    while (this.current) this.close(true);
    if (this.truncation) {
      this.truncation.message =
        `truncated tail: the trail ends at seq ${this.lastSeq}, but checkpoint #${this.prev.id} sealed events up to seq ` +
        `${this.prev.uptoSeq} (${this.prev.eventCount} events); ${this.truncated} sealed event(s) after seq ${this.lastSeq} are gone`;
    }
  }

  /** Seqs a..b hold no event; every one not listed as unused by the checkpoint was deleted. */
  private hole(a: number, b: number, atEnd: boolean): void {
    const cp = this.current!;
    if (a > b || !cp.missingSeqs || !this.chained) return;
    const m = cp.missingSeqs;
    while (this.missingIdx < m.length && m[this.missingIdx] < a) this.missingIdx++;
    let first = a;
    while (this.missingIdx < m.length && m[this.missingIdx] === first && first <= b) {
      first++;
      this.missingIdx++;
    }
    if (first > b) return;
    let listed = 0;
    while (this.missingIdx < m.length && m[this.missingIdx] <= b) {
      listed++;
      this.missingIdx++;
    }
    const gone = b - first + 1 - listed;
    if (atEnd) {
      this.truncated += gone;
      this.truncation ??= this.findings.add({ kind: 'truncated-tail', seq: first, eventId: null, message: '' });
      return;
    }
    this.findings.add({
      kind: 'deleted-event',
      seq: first,
      eventId: null,
      message:
        `deleted event: seq ${first}${gone > 1 ? ` and ${gone - 1} more up to seq ${b}` : ''} existed when checkpoint #${cp.id} ` +
        `sealed seq ${this.prev.uptoSeq + 1}..${cp.uptoSeq}, and is gone`,
    });
  }

  private close(atEnd: boolean): void {
    const cp = this.current!;
    const after = this.prev.uptoSeq;
    this.hole(this.cursor + 1, cp.uptoSeq, atEnd);
    this.cursor = cp.uptoSeq;
    this.flush();
    const digest = this.hasher.digest('hex');
    const first = this.firstInInterval ?? { seq: after + 1, id: null };
    this.checkSignature(cp, after + 1, this.chained ? this.prev : null);
    const expected = cp.eventCount - this.prev.eventCount;
    if (!this.chained) {
      this.findings.add({
        kind: 'deleted-checkpoint',
        seq: cp.uptoSeq,
        eventId: null,
        message:
          `deleted checkpoint: checkpoint #${cp.id} (seq ..${cp.uptoSeq}) follows a checkpoint with digest ${short(cp.prevDigest)}, ` +
          `but the one before it here${this.prev.id === null ? ' (none)' : ` is #${this.prev.id}`} has ${short(this.prev.digest)}; a checkpoint in between was removed`,
      });
    } else if (!cp.missingSeqs && this.inInterval !== expected) {
      const more = this.inInterval > expected;
      if (!(atEnd && !more)) {
        this.findings.add({
          kind: more ? 'inserted-event' : 'deleted-event',
          seq: first.seq,
          eventId: first.id,
          message: `${more ? 'inserted' : 'deleted'} event: checkpoint #${cp.id} counted ${expected} events in seq ${after + 1}..${cp.uptoSeq}; ${this.inInterval} are here`,
        });
      } else {
        this.truncated += expected - this.inInterval;
        this.truncation ??= this.findings.add({ kind: 'truncated-tail', seq: this.lastSeq + 1, eventId: null, message: '' });
      }
    } else if (digest !== cp.digest && !this.findings.explains(after, cp.uptoSeq) && !(atEnd && this.truncation)) {
      this.findings.add({
        kind: 'altered-interval',
        seq: first.seq,
        eventId: first.id,
        touches: [first.seq],
        message:
          `altered interval: the events in seq ${after + 1}..${cp.uptoSeq} do not add up to checkpoint #${cp.id}'s digest, although each ` +
          `one is self-consistent and chained: an event there (from seq ${first.seq}) was rewritten with its hash recomputed up to its stream's head, or events were reordered`,
      });
    }
    this.verified++;
    this.sealedUpto = cp.uptoSeq;
    this.sealedCount = cp.eventCount;
    // Continue from the checkpoint's own digest, so one bad interval does not taint the rest.
    this.prev = { uptoSeq: cp.uptoSeq, eventCount: cp.eventCount, digest: cp.digest, id: cp.id };
    this.hasher = createHash('sha256').update(cp.digest);
    this.inInterval = 0;
    this.firstInInterval = null;
    this.missingIdx = 0;
    this.open(this.queue.shift() ?? null);
  }

  private flush(): void {
    if (this.pending.length) this.hasher.update(this.pending.join(''));
    this.pending = [];
  }

  /** `prev` is the checkpoint before (to check count against unused seqs); null for a partial export's base. */
  private checkSignature(cp: CheckpointRecord, firstSeq: number, prev: { uptoSeq: number; eventCount: number } | null): void {
    if (!this.trustedKey) return;
    let problem: string | null = null;
    if (cp.keyId !== this.trustedKeyId) problem = `it names key ${cp.keyId}, not the trusted key ${this.trustedKeyId}`;
    else if (!verifySignature(this.trustedKey, checkpointSigningText(cp), cp.signature)) problem = 'its signature does not verify';
    else if (prev && cp.missingSeqs && cp.uptoSeq - prev.uptoSeq - cp.missingSeqs.length !== cp.eventCount - prev.eventCount) {
      problem = 'its count and its list of unused seqs contradict each other';
    }
    if (problem) {
      this.findings.add({
        kind: 'forged-checkpoint',
        seq: firstSeq,
        eventId: null,
        message: `forged checkpoint: checkpoint #${cp.id} (seals seq ..${cp.uptoSeq}) was not signed by the trusted key: ${problem}`,
      });
    }
  }
}
