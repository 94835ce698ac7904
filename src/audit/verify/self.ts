import { LABEL_OF_FIELD, canonicalFields } from '../event';
import { columnsAgree } from './agreement';
import { canonicalJson, hashHex } from '../canonical';
import { canonicalTextOf } from './fast/canonicalText';
import { fromExportLine, isAttributable, type ExportLine } from '../export/format';
import { checkExportLineFast } from './fast/lineWalk';
import type { PrecheckedEvent, SelfCheck } from './types';
import type { AuditEventRecord } from '../event';
import { show, short, type Finding } from './findings';

/**
 * The hash over the stored canonical text, and every column against that text: first the exact
 * rebuild (one string comparison), the value-by-value comparison only when it differs, and the
 * description of each difference only when there is one. An export line's ALCOA flags too.
 */
export function selfCheck(e: AuditEventRecord & { exported?: Partial<ExportLine> }): SelfCheck | null {
  const computedHash = hashHex(e.canonical);
  const hashOk = computedHash === e.hash;
  const diffs = canonicalTextOf(e) === e.canonical || columnsAgree(e) ? [] : diffFields(e);
  if (e.exported) {
    if (e.exported.alcoa_attributable !== isAttributable(e)) {
      diffs.push(`alcoa_attributable: the line says ${show(e.exported.alcoa_attributable)} but the actor makes it ${isAttributable(e)}`);
    }
    if (e.exported.alcoa_contemporaneous !== true) diffs.push(`alcoa_contemporaneous: the line says ${show(e.exported.alcoa_contemporaneous)}`);
  }
  return hashOk && diffs.length === 0 ? null : { hashOk, diffs, computedHash };
}

export function selfFinding(c: SelfCheck, seq: number, eventId: string, hash: string): Omit<Finding, 'touches'> {
  if (c.hashOk) return { seq, eventId, kind: 'edited-field', message: `edited field ${c.diffs.join('; ')}` };
  if (c.diffs.length === 0) {
    return {
      seq,
      eventId,
      kind: 'edited-event',
      message: `edited event: its stored hash ${short(hash)} is not the SHA-256 of its canonical text (${short(c.computedHash)}); the content and the hash no longer belong together`,
    };
  }
  return {
    seq,
    eventId,
    kind: 'edited-event',
    message: `edited event: its canonical text no longer matches its hash, and differs from the columns in ${c.diffs.join('; ')}`,
  };
}

/**
 * One export line, checked on its own: by the fast path (lineWalk.ts) when the line is as export
 * wrote it and agrees, else parsed and checked in full; null when it is not a JSON object of an event
 * (the caller reports the line). What the chains and the seal need comes back, not the text.
 */
export function checkExportLine(line: string): PrecheckedEvent | null {
  return checkExportLineFast(line) ?? checkExportLineInFull(line);
}

/** The full check of one export line: JSON.parse, then every field against the canonical text. */
export function checkExportLineInFull(line: string): PrecheckedEvent | null {
  let e: ReturnType<typeof fromExportLine>;
  try {
    e = fromExportLine(JSON.parse(line) as Partial<ExportLine>);
  } catch {
    return null;
  }
  return { seq: e.seq, id: e.id, stream: e.stream, streamSeq: e.streamSeq, hash: e.hash, prevHash: e.prevHash, self: selfCheck(e) };
}

const canonicalOrThrow = (v: unknown): string => {
  try {
    return canonicalJson(v);
  } catch {
    return '<invalid>';
  }
};

/** Which columns disagree with the hashed canonical text, and how. */
function diffFields(e: AuditEventRecord): string[] {
  let hashed: Record<string, unknown>;
  try {
    hashed = JSON.parse(e.canonical);
  } catch {
    return ['canonical: it is not valid JSON'];
  }
  let fields: Record<string, unknown>;
  try {
    fields = canonicalFields(e);
  } catch {
    return ['columns: they cannot be serialised'];
  }
  const out: string[] = [];
  for (const key of new Set([...Object.keys(fields), ...Object.keys(hashed ?? {})])) {
    const column = fields[key];
    if (canonicalOrThrow(column) === canonicalOrThrow(hashed?.[key])) continue;
    const shown = column instanceof Date && !Number.isNaN(column.getTime()) ? column.toISOString() : column;
    out.push(`${LABEL_OF_FIELD[key] ?? key}: the column says ${show(shown)} but the hashed canonical text says ${show(hashed?.[key])}`);
  }
  return out.length ? out : ['canonical: it is not in canonical form'];
}
