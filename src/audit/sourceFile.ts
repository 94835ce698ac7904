import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { keyIdOf } from './checkpointKey';
import { checkpointFromJson } from './checkpointRecord';
import { fromExportLine, type ExportLine, type ExportManifest, type ExportManifestFile } from './exportFormat';
import { VERIFY_BATCH, type AuditSource, type SourceProblem } from './source';
import type { AuditEventRecord } from './types';

type Event = ReturnType<typeof fromExportLine>;

/**
 * One day file read in chunks and split into lines here (no per-line promise), hashing the raw
 * bytes as they pass so the manifest can be checked too.
 */
class DayReader {
  head: Event | null = null;
  private chunks: AsyncIterator<Buffer>;
  private lines: string[] = [];
  private next = 0;
  private rest = '';
  private done = false;
  private hash = createHash('sha256');
  private count = 0;
  private lineNo = 0;

  private constructor(readonly file: ExportManifestFile, input: fs.ReadStream, private readonly problems: SourceProblem[]) {
    this.chunks = input[Symbol.asyncIterator]();
  }

  static async open(dir: string, file: ExportManifestFile, problems: SourceProblem[]): Promise<DayReader | null> {
    const full = path.join(dir, path.basename(file.name));
    if (!fs.existsSync(full)) {
      problems.push({ message: `altered export: ${file.name} is listed in the manifest but missing` });
      return null;
    }
    const r = new DayReader(file, fs.createReadStream(full, { highWaterMark: 1 << 20 }), problems);
    await r.advance();
    return r;
  }

  private async fill(): Promise<boolean> {
    while (this.next >= this.lines.length) {
      if (this.done) return false;
      const n = await this.chunks.next();
      if (n.done) {
        this.done = true;
        this.lines = this.rest ? [this.rest] : [];
        this.rest = '';
      } else {
        this.hash.update(n.value);
        // Split on whole lines only: a multi-byte character may straddle two chunks.
        const buf = n.value as Buffer;
        const cut = buf.lastIndexOf(10);
        if (cut < 0) {
          this.rest += buf.toString('utf8');
          this.lines = [];
        } else {
          this.lines = (this.rest + buf.toString('utf8', 0, cut)).split('\n');
          this.rest = buf.toString('utf8', cut + 1);
        }
      }
      this.next = 0;
    }
    return true;
  }

  async advance(): Promise<void> {
    for (;;) {
      if (!(await this.fill())) {
        this.head = null;
        this.finish();
        return;
      }
      const line = this.lines[this.next++];
      this.lineNo++;
      if (!line.trim()) continue;
      this.count++;
      try {
        this.head = fromExportLine(JSON.parse(line) as Partial<ExportLine>);
        return;
      } catch {
        this.problems.push({ message: `altered export: ${this.file.name} line ${this.lineNo} is not valid JSON (its event counts as missing)` });
      }
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

/**
 * An export directory as a verify source. Day files are merged by seq (an event near midnight can
 * sit in the next day's file with a lower seq than the previous day's last); a file is opened only
 * when the merge reaches its first seq, so memory stays flat however many days there are.
 */
export function exportDirectorySource(dir: string, batchSize = VERIFY_BATCH): AuditSource {
  const manifestPath = path.join(dir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) throw new Error(`${manifestPath} not found: pass the directory written by \`npm run audit -- export\`.`);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as ExportManifest;
  if (manifest.format !== 'jobledger.audit.export') throw new Error(`${manifestPath} is not a jobledger audit export manifest.`);
  const problems: SourceProblem[] = [];
  return {
    describe: `export ${dir}`,
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
      const pending = [...(manifest.files ?? [])].sort((a, b) => a.first_seq - b.first_seq);
      const active: DayReader[] = [];
      const minHead = () => active.reduce((m, r) => Math.min(m, Number(r.head!.seq)), Infinity);
      let batch: AuditEventRecord[] = [];
      for (;;) {
        while (pending.length && (active.length === 0 || pending[0].first_seq <= minHead())) {
          const r = await DayReader.open(dir, pending.shift()!, problems);
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
    },
    problems: async () => problems,
  };
}
