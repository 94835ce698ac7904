import { hashHex } from '../canonical';
import type { SelfCheck, VerifyEvent } from './types';
import { short, type Findings } from './findings';
import { selfCheck, selfFinding } from './self';

interface Gap {
  from: number;
  to: number;
  /** The event that came where the missing positions should have been. */
  atSeq: number;
  atId: string;
  /** prev_hash of that event: the hash of the last missing position. */
  missingHash: string | null;
}

interface StreamState {
  next: number;
  hash: string;
  seq: number;
  id: string;
  gaps?: Gap[];
}

/**
 * Checks each event on its own (hash over the stored canonical text; columns agree with that
 * text) and each stream's chain (stream_seq contiguous from 1, prev_hash = previous hash).
 * A hole in a stream stays open until the end: if the missing position turns up later, the
 * events were reordered, otherwise it was deleted.
 */
export class EventChecker {
  private streams = new Map<string, StreamState>();
  private gapped = new Set<string>();

  /** `partial`: the source starts after a checkpoint, so a stream may begin mid-chain. */
  constructor(private readonly findings: Findings, private readonly partial: boolean) {}

  get streamCount(): number {
    return this.streams.size;
  }

  check(e: VerifyEvent, seq: number): void {
    this.checkSelf(e, seq);
    this.checkLink(e, seq);
  }

  /** The event on its own: its hash, and its columns against its hashed text (done by the source when it says so). */
  private checkSelf(e: VerifyEvent, seq: number): void {
    let self: SelfCheck | null;
    if ('self' in e) self = e.self;
    else if ('columnsAgree' in e) {
      const computedHash = hashHex(e.canonical);
      self = computedHash === e.hash ? null : { hashOk: false, diffs: [], computedHash };
    } else self = selfCheck(e);
    if (self) this.findings.add(selfFinding(self, seq, e.id, e.hash));
  }

  private checkLink(e: VerifyEvent, seq: number): void {
    const st = this.streams.get(e.stream);
    if (!st) {
      this.streams.set(e.stream, { next: e.streamSeq + 1, hash: e.hash, seq, id: e.id });
      if (e.streamSeq !== 1 && !this.partial) {
        this.addGap(e.stream, { from: 1, to: e.streamSeq - 1, atSeq: seq, atId: e.id, missingHash: e.prevHash });
      } else if (e.streamSeq === 1 && e.prevHash !== null) {
        this.findings.add({ kind: 'edited-event', seq, eventId: e.id, message: `edited event: it starts stream ${e.stream} yet records prev_hash ${short(e.prevHash)}` });
      }
      return;
    }
    if (e.streamSeq === st.next) {
      if (e.prevHash !== st.hash) {
        this.findings.add({
          kind: 'edited-event',
          seq: st.seq,
          eventId: st.id,
          touches: [st.seq, seq],
          message:
            `edited event: stream ${e.stream} breaks after stream_seq ${st.next - 1}: the next event (seq ${seq}) records prev_hash ` +
            `${short(e.prevHash)}, but seq ${st.seq} now hashes to ${short(st.hash)}; seq ${st.seq} was rewritten with a recomputed hash (or seq ${seq} was)`,
        });
      }
    } else if (e.streamSeq > st.next) {
      this.addGap(e.stream, { from: st.next, to: e.streamSeq - 1, atSeq: seq, atId: e.id, missingHash: e.prevHash });
    } else {
      this.placeBehind(st, e, seq);
      return; // an event behind the head does not move it
    }
    st.next = e.streamSeq + 1;
    st.hash = e.hash;
    st.seq = seq;
    st.id = e.id;
  }

  /** An event at a position the stream has passed: a hole filled late (reordered), or a second copy (inserted). */
  private placeBehind(st: StreamState, e: VerifyEvent, seq: number): void {
    const gap = st.gaps?.find((g) => g.from <= e.streamSeq && e.streamSeq <= g.to);
    if (!gap) {
      this.findings.add({
        kind: 'inserted-event',
        seq,
        eventId: e.id,
        message: `inserted event: stream ${e.stream} already has stream_seq ${e.streamSeq}; this event claims the same place in its chain`,
      });
      return;
    }
    this.findings.add({
      kind: 'reordered-event',
      seq: gap.atSeq,
      eventId: gap.atId,
      touches: [gap.atSeq, seq],
      message:
        `reordered event: seq ${gap.atSeq} comes before stream_seq ${e.streamSeq} of stream ${e.stream}, ` +
        `which appears later at seq ${seq}; the events' sequence numbers were swapped or moved`,
    });
    const rest: Gap[] = [];
    if (gap.from < e.streamSeq) rest.push({ ...gap, to: e.streamSeq - 1 });
    if (e.streamSeq < gap.to) rest.push({ ...gap, from: e.streamSeq + 1 });
    st.gaps = st.gaps!.filter((g) => g !== gap).concat(rest);
  }

  private addGap(stream: string, gap: Gap): void {
    (this.streams.get(stream)!.gaps ??= []).push(gap);
    this.gapped.add(stream);
  }

  /** Holes never filled were deletions: name the event after each, and the hash the missing one had. */
  finish(): void {
    for (const stream of this.gapped) {
      for (const g of this.streams.get(stream)!.gaps ?? []) {
        const n = g.to - g.from + 1;
        this.findings.add({
          kind: 'deleted-event',
          seq: g.atSeq,
          eventId: g.atId,
          message:
            `deleted event: stream ${stream} lacks stream_seq ${g.from === g.to ? g.from : `${g.from}..${g.to} (${n} events)`} ` +
            `before seq ${g.atSeq}, whose prev_hash ${short(g.missingHash)} names the missing event`,
        });
      }
    }
  }
}
