import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyIdOf } from '../checkpoint/key';
import { checkpointFromJson } from '../checkpoint/record';
import type { ExportManifest, ExportManifestFile } from './format';
import { inlineLineChecker, workerLineChecker, type LineChecker, type LineResult } from '../verify/fast/lineCheckers';
import { VERIFY_BATCH } from '../verify/databaseSource';
import type { AuditSource, PrecheckedEvent, SourceProblem } from '../verify/types';

/**
 * One day file read in chunks of whole lines, hashing the raw bytes as they pass so the manifest
 * can be checked too. Each chunk goes, as bytes, to a LineChecker (worker threads, or inline),
 * which splits, parses and checks its lines, a few chunks ahead of the merge: this thread only
 * reads, hashes and merges.
 */
class DayReader {
  head: PrecheckedEvent | null = null;
  private chunks: AsyncIterator<Buffer>;
  /** The bytes after the last '\n' read so far: the start of a line the next chunk ends. */
  private rest: Buffer = Buffer.alloc(0);
  private done = false;
  private hash = createHash('sha256');
  private count = 0;
  private lineNo = 0;
  private jobs: Promise<LineResult[]>[] = [];
  private current: LineResult[] = [];
  private at = 0;

  private constructor(
    readonly file: ExportManifestFile,
    input: fs.ReadStream,
    private readonly problems: SourceProblem[],
    private readonly checker: LineChecker,
  ) {
    this.chunks = input[Symbol.asyncIterator]();
  }

  static async open(dir: string, file: ExportManifestFile, problems: SourceProblem[], checker: LineChecker): Promise<DayReader | null> {
    const full = path.join(dir, path.basename(file.name));
    if (!fs.existsSync(full)) {
      problems.push({ message: `altered export: ${file.name} is listed in the manifest but missing` });
      return null;
    }
    const r = new DayReader(file, fs.createReadStream(full, { highWaterMark: 1 << 20 }), problems, checker);
    await r.advance();
    return r;
  }

  /** Sends the next chunk of whole lines to be checked; false at the end of the file. */
  private async dispatch(): Promise<boolean> {
    for (;;) {
      if (this.done) return false;
      const n = await this.chunks.next();
      let bytes: Uint8Array;
      if (n.done) {
        this.done = true;
        if (!this.rest.length) return false;
        bytes = new Uint8Array(this.rest); // a last line without its '\n' (copied: its own memory)
      } else {
        const buf = n.value as Buffer;
        this.hash.update(buf);
        // Whole lines only ('\n' is never inside a multi-byte character).
        const cut = buf.lastIndexOf(10);
        if (cut < 0) {
          this.rest = Buffer.concat([this.rest, buf]);
          continue;
        }
        bytes = new Uint8Array(this.rest.length + cut + 1); // its own memory: moved to the checker
        bytes.set(this.rest);
        bytes.set(buf.subarray(0, cut + 1), this.rest.length);
        this.rest = Buffer.from(buf.subarray(cut + 1));
      }
      const results = this.checker.check(bytes);
      results.catch(() => undefined); // awaited in order by advance(); never left unhandled if the merge stops early
      this.jobs.push(results);
      return true;
    }
  }

  async advance(): Promise<void> {
    for (;;) {
      while (this.at < this.current.length) {
        const e = this.current[this.at++];
        this.lineNo++;
        if (e === false) continue; // a blank line
        this.count++;
        if (e) {
          this.head = e;
          return;
        }
        this.problems.push({ message: `altered export: ${this.file.name} line ${this.lineNo} is not valid JSON (its event counts as missing)` });
      }
      while (this.jobs.length < this.checker.depth && (await this.dispatch()));
      const job = this.jobs.shift();
      if (!job) {
        this.head = null;
        this.finish();
        return;
      }
      this.current = await job;
      this.at = 0;
    }
  }

  private finish(): void {
    const sha = this.hash.digest('hex');
    if (sha !== this.file.sha256 || this.count !== this.file.lines) {
      this.problems.push({
        message: `altered export: ${this.file.name} has ${this.count} lines and sha256 ${sha.slice(0, 12)}…, the manifest says ${this.file.lines} lines and ${String(this.file.sha256).slice(0, 12)}…`,
      });
    }
  }
}

export interface ExportSourceOptions {
  batchSize?: number;
  /**
   * Worker threads that parse and check the lines (0: on this thread). 'auto' (the default): up to
   * 4, one per CPU, for an export of 20,000 lines or more; below that, starting them costs more.
   */
  workers?: number | 'auto';
}

const WORKERS_FROM_LINES = 20_000;

/**
 * An export directory as a verify source. Day files are merged by seq (an event near midnight can
 * sit in the next day's file with a lower seq than the previous day's last); a file is opened only
 * when the merge reaches its first seq, so memory stays flat however many days there are.
 */
export function exportDirectorySource(dir: string, opts: ExportSourceOptions = {}): AuditSource {
  const batchSize = opts.batchSize ?? VERIFY_BATCH;
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) throw new Error(`${manifestPath} not found: pass the directory written by \`npm run audit -- export\`.`);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ExportManifest;
  if (manifest.format !== 'jobledger.audit.export') throw new Error(`${manifestPath} is not a jobledger audit export manifest.`);
  const problems: SourceProblem[] = [];
  return {
    describe: `export ${dir}`,
    trailId: async () => (typeof manifest.trail_id === 'string' ? manifest.trail_id : null),
    base: async () => (manifest.base_checkpoint ? checkpointFromJson(manifest.base_checkpoint) : null),
    async *checkpoints() {
      const all = (manifest.checkpoints ?? []).map(checkpointFromJson).sort((a, b) => a.uptoSeq - b.uptoSeq);
      yield* all;
    },
    async embeddedPublicKeyPem() {
      const k = manifest.public_key;
      if (!k) return null;
      if (keyIdOf(k.pem) !== k.key_id) problems.push({ message: `altered export: the manifest's public key does not have key id ${k.key_id}` });
      return k.pem;
    },
    async *events() {
      const lines = (manifest.files ?? []).reduce((n, f) => n + (Number(f.lines) || 0), 0);
      const workers = opts.workers === undefined || opts.workers === 'auto' ? (lines >= WORKERS_FROM_LINES ? Math.min(4, os.availableParallelism()) : 0) : opts.workers;
      const checker = workers > 0 ? workerLineChecker(workers) : inlineLineChecker();
      try {
        const pending = [...(manifest.files ?? [])].sort((a, b) => a.first_seq - b.first_seq);
        const active: DayReader[] = [];
        const minHead = () => active.reduce((m, r) => Math.min(m, Number(r.head!.seq)), Infinity);
        let batch: PrecheckedEvent[] = [];
        for (;;) {
          while (pending.length && (active.length === 0 || pending[0].first_seq <= minHead())) {
            const r = await DayReader.open(dir, pending.shift()!, problems, checker);
            if (r?.head) active.push(r);
          }
          if (!active.length) break;
          let best = 0;
          for (let i = 1; i < active.length; i++) if (Number(active[i].head!.seq) < Number(active[best].head!.seq)) best = i;
          const r = active[best];
          batch.push(r.head!);
          await r.advance();
          if (!r.head) active.splice(best, 1);
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length) yield batch;
      } finally {
        await checker.close();
      }
    },
    problems: async () => problems,
  };
}
