/**
 * `npm run bench`: runs every bench script in bench/, one after another (benches measure the
 * machine, so they must not compete with each other), and prints their output as it comes.
 * A bench script is any bench/*.ts other than this file and the modules other bench files import
 * (e.g. a server a bench starts in a child process). Helpers shared by benches live in bench/lib/.
 * Usage: npm run bench [-- name-filter ...]   e.g. npm run bench -- pagination
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const DIR = __dirname;

export function discoverBenches(dir = DIR): string[] {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== 'run.ts').sort();
  const sources = new Map(files.map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
  const imported = (f: string) => {
    const spec = new RegExp(`['"]\\./${f.replace(/\.ts$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.[jt]s)?['"]`);
    return [...sources].some(([other, text]) => other !== f && spec.test(text));
  };
  return files.filter((f) => !imported(f));
}

function runOne(file: string): Promise<{ code: number | null; seconds: number }> {
  const started = Date.now();
  // One node process per bench (`node --import tsx`, not the tsx binary, which adds a second process).
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(DIR, file)], { stdio: 'inherit', cwd: path.join(DIR, '..') });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, seconds: (Date.now() - started) / 1000 })));
}

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const benches = discoverBenches().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (benches.length === 0) {
    console.error(`no bench matches ${filters.join(', ')}; available: ${discoverBenches().join(', ')}`);
    process.exit(2);
  }
  console.log(`running ${benches.length} bench(es) in sequence: ${benches.join(', ')}`);
  const summary: string[] = [];
  for (const file of benches) {
    console.log(`\n===== ${file}  (npx tsx bench/${file}) =====\n`);
    const { code, seconds } = await runOne(file);
    summary.push(`${file}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${seconds.toFixed(0)} s`);
  }
  console.log(`\n===== summary =====\n${summary.join('\n')}`);
  if (summary.some((s) => s.includes('FAILED'))) process.exit(1);
}

if (require.main === module) void main();
