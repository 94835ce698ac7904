import { isolatedEnv } from './processes';
import { execFile } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tsx src/cli.ts ...` with exactly `env` (plus PATH and HOME): nothing leaks in from the
 * test process. Clerk variables default to empty, which loadConfig treats as unset and which
 * also masks any value a developer's .env might hold. The kill timeout only stops a CLI that
 * wrongly kept running (e.g. `serve` that did not refuse), so that test fails instead of hanging.
 */
export function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  const fullEnv = isolatedEnv(env);
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/cli.ts', ...args], { cwd: ROOT, env: fullEnv, timeout: 25_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}
