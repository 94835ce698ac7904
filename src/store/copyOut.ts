import type pg from 'pg';
import type { Duplex } from 'node:stream';

export interface CopyOutOptions {
  /** The size to start with when no buffer is given. */
  sizeHint?: number;
  /** A buffer to fill (from a previous COPY, recycled); it is replaced if the output outgrows it. */
  into?: Buffer;
}

type DataHandler = (chunk: Buffer) => void;

// Backend message types (PostgreSQL frontend/backend protocol 3.0).
const COPY_OUT_RESPONSE = 0x48; // H
const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const NOTICE = 0x4e; // N
const PARAMETER_STATUS = 0x53; // S

/**
 * `COPY ... TO STDOUT` on a node-postgres client, collected into one contiguous buffer: the COPY
 * stream exactly as PostgreSQL wrote it, without the protocol framing. The buffer lives in a
 * SharedArrayBuffer, so worker threads can read it where it is.
 *
 * A Submittable that reads the socket itself while the COPY runs, as pg-copy-streams does: it
 * takes the connection's one 'data' listener off, copies each CopyData payload straight from the
 * socket's chunks into the buffer, and at CopyDone (or at an error, or anything it does not
 * expect) puts the listener back and hands it the rest, so node-postgres finishes the query as
 * usual. Going through node-postgres's parser instead cost two objects per row, which made the
 * garbage collector the largest cost of reading. If the connection does not look as expected
 * (another driver, another version), it lets node-postgres parse and takes each CopyData message.
 */
export class CopyOut implements pg.Submittable {
  readonly done: Promise<Buffer>;
  private buf: Buffer;
  private len = 0;
  private settle!: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private settled = false;
  // The socket reader's state: a message header split across chunks, and the payload bytes still to come.
  private stream: Duplex | null = null;
  private pgHandler: DataHandler | null = null;
  private header = Buffer.alloc(5);
  private headerLen = 0;
  private type = 0;
  private remaining = 0;

  constructor(private readonly text: string, { sizeHint = 1 << 20, into }: CopyOutOptions = {}) {
    this.buf = into ?? sharedBuffer(sizeHint);
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
  }

  submit(connection: pg.Connection): void {
    const stream = (connection as unknown as { stream?: Duplex }).stream;
    const listeners = stream?.listeners('data') ?? [];
    if (stream && listeners.length === 1) {
      this.stream = stream;
      this.pgHandler = listeners[0] as DataHandler;
      stream.removeListener('data', this.pgHandler);
      stream.on('data', this.onData);
    }
    (connection as unknown as { query(text: string): void }).query(this.text);
  }

  private readonly onData = (chunk: Buffer): void => {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - pos);
        if (this.type === COPY_DATA) this.append(chunk, pos, pos + n);
        this.remaining -= n;
        pos += n;
        continue;
      }
      let start: number; // where the message's header starts in this chunk; -1: in this.header
      if (this.headerLen === 0 && chunk.length - pos >= 5) {
        start = pos;
        this.type = chunk[pos];
        this.remaining = chunk.readUInt32BE(pos + 1) - 4;
        pos += 5;
      } else {
        // A header split across chunks: gather its 5 bytes first.
        const n = Math.min(5 - this.headerLen, chunk.length - pos);
        chunk.copy(this.header, this.headerLen, pos, pos + n);
        this.headerLen += n;
        pos += n;
        if (this.headerLen < 5) return;
        start = -1;
        this.headerLen = 0;
        this.type = this.header[0];
        this.remaining = this.header.readUInt32BE(1) - 4;
      }
      if (this.type !== COPY_DATA && this.type !== COPY_OUT_RESPONSE && this.type !== NOTICE && this.type !== PARAMETER_STATUS) {
        // CopyDone, an error, or anything else: node-postgres takes over. It does not need CopyDone
        // itself; it must see every other message whole, header included.
        const rest = start >= 0 ? chunk.subarray(start) : Buffer.concat([this.header, chunk.subarray(pos)]);
        this.detach(this.type === COPY_DONE ? rest.subarray(5 + this.remaining) : rest);
        return;
      }
    }
  };

  /** Gives the socket back to node-postgres, with the bytes we read but it must see. */
  private detach(rest: Buffer): void {
    const stream = this.stream!;
    const handler = this.pgHandler!;
    stream.removeListener('data', this.onData);
    stream.on('data', handler);
    this.stream = this.pgHandler = null;
    if (rest.length) handler(rest);
  }

  private append(src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.len + n > this.buf.length) {
      const bigger = sharedBuffer(Math.max(this.buf.length * 2, this.len + n));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(src.subarray(from, to), this.len);
    this.len += n;
  }

  /** Used when node-postgres parses (the socket was not taken over). */
  handleCopyData(msg: { chunk: Buffer }): void {
    this.append(msg.chunk, 0, msg.chunk.length);
  }

  handleError(err: Error): void {
    if (this.stream) this.detach(Buffer.alloc(0)); // the connection failed under us
    if (this.settled) return;
    this.settled = true;
    this.settle.reject(err);
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.settle.resolve(this.buf.subarray(0, this.len));
  }

  // Messages a COPY does not send; present because the client calls whatever the active query has.
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {
    this.handleError(new Error('COPY FROM is not supported here'));
  }
}

const sharedBuffer = (size: number) => Buffer.from(new SharedArrayBuffer(size));
