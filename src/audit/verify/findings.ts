import { jsonTextOf } from './fast/canonicalText';

/** What verify can find. The first five are the tampering the issue names; the rest are about seals. */
export type FindingKind =
  | 'edited-field'
  | 'edited-event'
  | 'deleted-event'
  | 'inserted-event'
  | 'reordered-event'
  | 'truncated-tail'
  /** A sealed interval whose events are each consistent yet do not add up to the signed digest. */
  | 'altered-interval'
  | 'forged-checkpoint'
  | 'deleted-checkpoint'
  /** An export file that differs from its manifest. */
  | 'altered-export';

export interface Finding {
  kind: FindingKind;
  /** The first event affected (for a deleted event, the seq it held). */
  seq: number;
  /** Its id when the event still exists. */
  eventId: string | null;
  message: string;
  /** Every seq this finding explains; a digest mismatch in an interval already explained is not repeated. */
  touches: number[];
}

const KEEP = 1000;

/** Keeps the lowest-seq findings (the first affected event is what matters) and counts the rest. */
export class Findings {
  private list: Finding[] = [];
  total = 0;

  add(f: Omit<Finding, 'touches'> & { touches?: number[] }): Finding {
    const finding = { ...f, touches: f.touches ?? [f.seq] };
    this.total++;
    this.list.push(finding);
    if (this.list.length >= 2 * KEEP) this.list = this.sorted().slice(0, KEEP);
    return finding;
  }

  /** True when some finding touches a seq in (after, upto]. */
  explains(after: number, upto: number): boolean {
    return this.list.some((f) => f.touches.some((s) => s > after && s <= upto));
  }

  sorted(): Finding[] {
    const rank = (f: Finding) => (f.kind === 'altered-export' ? 1 : 0);
    return [...this.list].sort((a, b) => a.seq - b.seq || rank(a) - rank(b)).slice(0, KEEP);
  }
}

/** Short, single-line rendering of a value for a finding. */
/** A value in a finding's message: JSON, objects with their keys sorted (the same whichever source it came from). */
export function show(v: unknown): string {
  let text: string;
  try {
    text = v === undefined ? 'absent' : (jsonTextOf(v) ?? JSON.stringify(v));
  } catch {
    text = String(v);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export const short = (hash: string | null | undefined) => (hash ? `${hash.slice(0, 12)}…` : 'none');
