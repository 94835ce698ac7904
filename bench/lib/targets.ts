/** Starts each server the comparison bench measures in its own process, observed by loopMonitor. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Probe {
  t: number;
  block: number;
  rss: number;
}

export interface Target {
  name: string;
  url: string;
  startedAt: number;
  /** When it printed "listening on": before that it loads and sets up, and serves nothing. */
  listenedAt: number;
  /**
   * CPU time (ms, every thread of the process) used so far, from /proc (Linux; NaN elsewhere).
   * `databaseName`: that PostgreSQL database's backends instead (those alive when asked).
   */
  cpuMs(databaseName?: string): number;
  /** Bytes the process has written to stdout and stderr since it listened (its log lines). */
  outputBytes(): number;
  /** The loop monitor's samples between two instants (ms since the epoch). */
  probes(from: number, to: number): Probe[];
  stop(): Promise<void>;
}

const ROOT = path.join(__dirname, '..', '..');

/**
 * Spawns `node --require loopMonitor <script> ...args` and waits for "listening on <url>". A
 * TypeScript script (the peers) runs through tsx; compiled JavaScript (jobledger's build) runs
 * without it, as `npm run start:prod` does: tsx's loader is a thread and a heap of its own.
 */
export async function startTarget(name: string, script: string, args: string[], env: Record<string, string>): Promise<Target> {
  const probeFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'jobledger-bench-probe-')), 'probe.jsonl');
  const startedAt = Date.now();
  // BENCH_NODE_ARGS: extra node flags for the targets, e.g. --cpu-prof to profile them under load.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...nodeArgs, '--require', path.join(__dirname, 'loopMonitor.cjs'), ...loader, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_PROBE_FILE: probeFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d: Buffer) => (output += d);
  child.stderr!.on('data', keep);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s:\n${output}`)), 60_000);
    child.stdout!.on('data', keep);
    child.stdout!.on('data', function started() {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', started);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it listened:\n${output}`));
    });
  });
  const listenedAt = Date.now();
  // From here on the output is only counted: a server's log lines must keep draining (a full
  // pipe would block its writes), but the bench has no use for their text.
  child.stdout!.off('data', keep);
  child.stderr!.off('data', keep);
  let bytes = 0;
  const count = (d: Buffer) => (bytes += d.length);
  child.stdout!.on('data', count);
  child.stderr!.on('data', count);
  return {
    name,
    url,
    startedAt,
    listenedAt,
    outputBytes: () => bytes,
    probes(from, to) {
      if (!fs.existsSync(probeFile)) return [];
      return fs
        .readFileSync(probeFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Probe)
        // A sample covers the 250 ms before its time stamp.
        .filter((p) => p.t > from && p.t - 250 < to);
    },
    cpuMs: (databaseName) => (databaseName ? backendsCpuMs(databaseName) : processCpuMs(child.pid!)),
    stop: () => stopChild(child),
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function processCpuMs(pid: number): number {
  try {
    // Fields after the command name: state is 3rd, utime 14th and stime 15th of the whole line.
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** PostgreSQL names each backend's database in its process title: "postgres: ... <user> <db> ...". */
function backendsCpuMs(databaseName: string): number {
  let sum = 0;
  try {
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${databaseName} `)) sum += processCpuMs(Number(pid));
      } catch {
        // a process that ended meanwhile
      }
    }
  } catch {
    return NaN;
  }
  return sum;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
