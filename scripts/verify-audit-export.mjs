#!/usr/bin/env node
// A standalone verifier of a jobledger audit export, written from docs/audit-format.md alone:
// only node: built-ins, nothing from src/. It exists so that an auditor can check an export
// without trusting our code; test/audit-standalone-verifier.test.ts holds it and
// `npm run audit -- verify --file` to the same verdict on clean and tampered exports.
//
// usage: node scripts/verify-audit-export.mjs DIR [--public-key PEMFILE] [--json]
// exit 0: intact; 1: tampering found; 2: usage or unreadable input.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** RFC 8785 (JCS): keys sorted by UTF-16 code units, no whitespace, ECMAScript number and string forms. */
function jcs(v) {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error('non-finite number');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${jcs(v[k])}`).join(',')}}`;
}
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');

// docs/audit-format.md, "The event": canonical key, export name, kind.
const FIELDS = [
  ['id', 'id', 'text'], ['stream', 'stream', 'text'], ['streamSeq', 'stream_seq', 'integer'], ['prevHash', 'prev_hash', 'text'],
  ['occurredAt', 'timestamp', 'time'], ['action', 'action', 'text'], ['actorId', 'user_id', 'text'], ['actorEmail', 'user_email', 'text'],
  ['tokenIssuedAt', 'token_iat', 'time'], ['sessionId', 'session_id', 'text'], ['impersonatorId', 'impersonator_id', 'text'],
  ['jobId', 'job_id', 'text'], ['reason', 'reason', 'text'], ['before', 'before', 'json'], ['after', 'after', 'json'],
  ['requestId', 'request_id', 'text'], ['ip', 'ip', 'text'], ['userAgent', 'user_agent', 'text'],
];

const findings = [];
const find = (kind, seq, message) => findings.push({ kind, seq, message });

/** The canonical object an export line's fields say; times as instants (ISO-8601 with milliseconds). */
function canonicalOf(line) {
  const out = { v: 1 };
  for (const [key, name, kind] of FIELDS) {
    const v = line[name] === undefined ? null : line[name];
    out[key] = kind === 'time' && v !== null ? new Date(v).toISOString() : v;
  }
  return out;
}

/** One event on its own: the hash of its canonical text, each field against that text, the ALCOA flags. */
function checkEvent(line) {
  const hashOk = sha256(Buffer.from(String(line.canonical), 'utf8')) === line.hash;
  const diffs = [];
  let hashed = null;
  try {
    hashed = JSON.parse(line.canonical);
  } catch {
    diffs.push('canonical is not JSON');
  }
  if (hashed) {
    let fields;
    try {
      fields = canonicalOf(line);
    } catch {
      fields = {};
      diffs.push('a time field is not a valid date');
    }
    for (const key of new Set([...Object.keys(fields), ...Object.keys(hashed)])) {
      let same;
      try {
        same = jcs(fields[key] ?? null) === jcs(hashed[key] ?? null) && key in hashed && key in fields;
      } catch {
        same = false;
      }
      if (!same) diffs.push(key);
    }
  }
  const actor = typeof line.user_id === 'string' ? line.user_id : '';
  const attributable = actor.trim() !== '' && (actor.startsWith('system:') || line.session_id != null || line.token_iat != null);
  if (line.alcoa_attributable !== attributable) diffs.push('alcoa_attributable');
  if (line.alcoa_contemporaneous !== true) diffs.push('alcoa_contemporaneous');
  if (hashOk && !diffs.length) return;
  find(hashOk ? 'edited-field' : 'edited-event', Number(line.seq), hashOk ? `fields differ from the hashed text: ${diffs.join(', ')}` : 'the hash is not the SHA-256 of the canonical text');
}

const keyIdOf = (pem) => `ed25519:${sha256(crypto.createPublicKey(pem).export({ type: 'spki', format: 'der' })).slice(0, 32)}`;

function signingText(c) {
  return jcs({
    type: 'jobledger.audit.checkpoint', v: 1, uptoSeq: c.upto_seq, eventCount: c.event_count, digest: c.digest,
    prevDigest: c.prev_digest, missingSeqs: c.missing_seqs, createdAt: new Date(c.created_at).toISOString(), keyId: c.key_id,
  });
}

function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'public-key': { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals.length !== 1) {
    console.error('usage: node scripts/verify-audit-export.mjs DIR [--public-key PEMFILE] [--json]');
    return 2;
  }
  const dir = positionals[0];
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  if (manifest.format !== 'jobledger.audit.export' || manifest.version !== 1) throw new Error('not a jobledger audit export (version 1)');

  // The key: pinned, else the one shipped in the manifest (which a forger could have replaced).
  let key = values['public-key'] ? crypto.createPublicKey(fs.readFileSync(values['public-key'])).export({ type: 'spki', format: 'pem' }).toString() : null;
  if (!key && manifest.public_key) {
    key = manifest.public_key.pem;
    if (keyIdOf(key) !== manifest.public_key.key_id) find('altered-export', Infinity, 'the manifest key does not have its key id');
  }
  const keyId = key ? keyIdOf(key) : null;

  // The files: each as listed (SHA-256 of its bytes, line count), lines in file order.
  const files = [];
  for (const f of manifest.files) {
    const full = path.join(dir, path.basename(f.name));
    if (!fs.existsSync(full)) {
      find('altered-export', Infinity, `${f.name} is missing`);
      continue;
    }
    const bytes = fs.readFileSync(full);
    const lines = bytes.toString('utf8').split('\n').filter((l) => l.trim() !== '');
    if (sha256(bytes) !== f.sha256 || lines.length !== f.lines) find('altered-export', Infinity, `${f.name} differs from the manifest`);
    const events = [];
    for (const text of lines) {
      try {
        events.push(JSON.parse(text));
      } catch {
        find('altered-export', Infinity, `${f.name} has a line that is not JSON`);
      }
    }
    files.push(events);
  }
  // Merged by seq: each file in its own order, the next event from the file whose head seq is lowest.
  const events = [];
  const heads = files.map(() => 0);
  for (;;) {
    let best = -1;
    for (let i = 0; i < files.length; i++) {
      if (heads[i] < files[i].length && (best < 0 || Number(files[i][heads[i]].seq) < Number(files[best][heads[best]].seq))) best = i;
    }
    if (best < 0) break;
    events.push(files[best][heads[best]++]);
  }

  // Each event, and each stream's chain.
  const base = manifest.base_checkpoint;
  const streams = new Map();
  for (const e of events) {
    checkEvent(e);
    const seq = Number(e.seq);
    const st = streams.get(e.stream);
    if (!st) {
      const s = { next: e.stream_seq + 1, hash: e.hash, gaps: [] };
      streams.set(e.stream, s);
      if (e.stream_seq !== 1 && !base) s.gaps.push({ from: 1, to: e.stream_seq - 1, seq });
      else if (e.stream_seq === 1 && e.prev_hash !== null) find('edited-event', seq, 'the first event of its stream names a previous hash');
      continue;
    }
    if (e.stream_seq === st.next) {
      if (e.prev_hash !== st.hash) find('edited-event', seq, `prev_hash does not match the previous event of stream ${e.stream}`);
    } else if (e.stream_seq > st.next) {
      st.gaps.push({ from: st.next, to: e.stream_seq - 1, seq });
    } else {
      const gap = st.gaps.find((g) => g.from <= e.stream_seq && e.stream_seq <= g.to);
      if (gap) {
        find('reordered-event', gap.seq, `stream_seq ${e.stream_seq} of stream ${e.stream} comes after a later one`);
        gap.filled = true;
      } else find('inserted-event', seq, `a second event at stream_seq ${e.stream_seq} of stream ${e.stream}`);
      continue;
    }
    st.next = e.stream_seq + 1;
    st.hash = e.hash;
  }
  for (const st of streams.values()) for (const g of st.gaps) if (!g.filled) find('deleted-event', g.seq, `stream_seq ${g.from}..${g.to} missing`);

  // Sequence numbers strictly increasing; then the checkpoints over them.
  let last = base ? base.upto_seq : 0;
  const ordered = [];
  for (const e of events) {
    const seq = Number(e.seq);
    if (seq < 1 || seq === last) find('inserted-event', seq, `seq ${seq} is held twice or below 1`);
    else if (seq < last) find('reordered-event', seq, `seq ${seq} comes after seq ${last}`);
    else {
      ordered.push(e);
      last = seq;
    }
  }
  const checkSignature = (c) => {
    if (!key) return;
    let ok = c.key_id === keyId;
    try {
      ok = ok && crypto.verify(null, Buffer.from(signingText(c), 'utf8'), key, Buffer.from(c.signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) find('forged-checkpoint', c.upto_seq, `checkpoint ..${c.upto_seq} is not signed by the trusted key`);
  };
  if (base) checkSignature(base);
  let prev = base ?? { upto_seq: 0, event_count: 0, digest: null };
  let at = 0;
  const lastEventSeq = ordered.length ? Number(ordered[ordered.length - 1].seq) : prev.upto_seq;
  for (const c of [...manifest.checkpoints].sort((a, b) => a.upto_seq - b.upto_seq)) {
    checkSignature(c);
    const inside = [];
    while (at < ordered.length && Number(ordered[at].seq) <= c.upto_seq) inside.push(ordered[at++]);
    const expected = c.event_count - prev.event_count;
    if (c.prev_digest !== prev.digest) {
      find('deleted-checkpoint', c.upto_seq, `checkpoint ..${c.upto_seq} does not follow the one before it`);
    } else if (c.missing_seqs && c.upto_seq - prev.upto_seq - c.missing_seqs.length !== expected) {
      find('forged-checkpoint', c.upto_seq, `checkpoint ..${c.upto_seq}: its count and its unused seqs contradict each other`);
    } else if (inside.length !== expected || (c.missing_seqs && inside.some((e) => c.missing_seqs.includes(Number(e.seq))))) {
      const kind = c.upto_seq > lastEventSeq && inside.length < expected ? 'truncated-tail' : inside.length > expected ? 'inserted-event' : 'deleted-event';
      find(kind, prev.upto_seq + 1, `checkpoint ..${c.upto_seq} sealed ${expected} events in its interval; ${inside.length} are here`);
    } else if (sha256((prev.digest ?? '') + inside.map((e) => e.hash).join('')) !== c.digest) {
      find('altered-interval', inside[0] ? Number(inside[0].seq) : c.upto_seq, `the events up to seq ${c.upto_seq} do not add up to the signed digest`);
    }
    prev = c;
  }

  findings.sort((a, b) => a.seq - b.seq);
  const report = { ok: findings.length === 0, events: events.length, checkpoints: manifest.checkpoints.length, keyId, pinned: Boolean(values['public-key']), findings };
  if (values.json) console.log(JSON.stringify(report));
  else {
    console.log(`${dir}: ${events.length} events, ${manifest.checkpoints.length} checkpoints, key ${keyId ?? 'none (signatures NOT checked)'}${values['public-key'] ? ' (pinned)' : ''}`);
    for (const f of findings) console.log(`  [${f.kind}] ${Number.isFinite(f.seq) ? `seq ${f.seq}: ` : ''}${f.message}`);
    console.log(report.ok ? 'INTACT' : 'TAMPERED');
  }
  return report.ok ? 0 : 1;
}

try {
  process.exitCode = main();
} catch (err) {
  console.error(`verify-audit-export: ${err.message}`);
  process.exitCode = 2;
}
