/**
 * Makes a new embedded data directory (PGlite's initdb) in a child process that then exits.
 *
 * initdb runs a second PostgreSQL instance and initdb's own WASM module: about 300 MiB at its
 * peak. Run in a thread of the server, most of that stayed in the server's resident memory after
 * the thread ended (the allocator keeps what a thread freed); a process gives all of it back.
 * Only the first start of a data directory pays for it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

// Runs this module as it is here: compiled JavaScript, or TypeScript through tsx (which a child
// process does not inherit from `tsx src/cli.ts` or from jest).
const BOOTSTRAP = `
const [file, register, dir, conf] = process.argv.slice(1);
if (register) require(register).register();
require(file).createDataDir(dir, conf).then(
  () => process.exit(0),
  (err) => { process.stderr.write(String(err && err.message || err)); process.exit(1); },
);`;

/** In the child: initdb into `dir` with these postgresql.conf lines, then close. */
export async function createDataDir(dir: string, conf: string): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = await PGlite.create(dir, { postgresqlconf: conf });
  await pg.close();
}

/** In the server: runs createDataDir in a child process and waits for it to exit. */
export function createDataDirInChild(dir: string, conf: string): Promise<void> {
  const ext = path.extname(__filename);
  const register = ext === '.ts' ? require.resolve('tsx/cjs/api') : '';
  const child = spawn(process.execPath, ['-e', BOOTSTRAP, path.join(__dirname, `pgliteInit${ext}`), register, dir, conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`could not create the embedded data directory ${dir} (${signal ?? `exit code ${code}`}): ${stderr.trim().slice(-2000) || 'no output'}`));
    });
  });
}
