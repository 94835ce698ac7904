import type { CheckpointRecord } from '../checkpoint/record';
import type { AuditEventRecord } from '../event';
import type { ExportLine } from '../export/format';

/**
 * What verify's parts pass between them: the sources (database, export directory), the fast
 * paths and the checkers. Types only, so that every part can depend on them and on nothing else.
 */

/** What is wrong with one event on its own; null when nothing is. Plain data: it crosses to and from worker threads. */
export interface SelfCheck {
  hashOk: boolean;
  /** The columns (or export fields) that disagree with the hashed canonical text, described. */
  diffs: string[];
  /** SHA-256 of the canonical text as stored. */
  computedHash: string;
}

/** An event whose columns the source has already found to agree with its canonical text: only what the chains use. */
export interface CheckedEvent {
  seq: string;
  id: string;
  stream: string;
  streamSeq: number;
  canonical: string;
  hash: string;
  prevHash: string | null;
  columnsAgree: true;
}

/** An event the source has checked on its own already (an export line, in a worker thread): only the outcome. */
export interface PrecheckedEvent {
  seq: string;
  id: string;
  stream: string;
  streamSeq: number;
  hash: string;
  prevHash: string | null;
  self: SelfCheck | null;
}

/** What a source yields: a whole record (verify checks it), one whose columns were checked, or one checked entirely. */
export type VerifyEvent = (AuditEventRecord & { exported?: Partial<ExportLine> }) | CheckedEvent | PrecheckedEvent;

/** A finding about the source itself (e.g. an export file that differs from its manifest). */
export interface SourceProblem {
  message: string;
}

/** What verify reads: the database, or an export directory. Both stream; neither loads everything. */
export interface AuditSource {
  describe: string;
  /** The identity of the trail it holds (identity.ts); null when it has none (no checkpoint yet, or an older export). */
  trailId(): Promise<string | null>;
  /** The checkpoint this source continues from (a partial export); null: it starts at the first event. */
  base(): Promise<CheckpointRecord | null>;
  /** Events in ascending seq, in batches. */
  events(): AsyncIterable<VerifyEvent[]>;
  /** Checkpoints after base, in ascending upto_seq. */
  checkpoints(): AsyncIterable<CheckpointRecord>;
  /** A public key shipped with the source (export manifests); trusted only when nothing is pinned. */
  embeddedPublicKeyPem?(): Promise<string | null>;
  problems?(): Promise<SourceProblem[]>;
}

