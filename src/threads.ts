import path from 'node:path';
import { Worker } from 'node:worker_threads';

// Loads the thread's module the way this process runs: compiled JavaScript, or TypeScript
// through tsx, whose loader a worker inherits neither from `tsx src/cli.ts` nor from jest.
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.register) require(workerData.register).register();
require(workerData.file);`;

/**
 * A worker thread running the module `name` that sits beside `besideFile` (pass `__filename`):
 * `name.ts` when the caller runs as TypeScript, `name.js` when compiled. `data` reaches the
 * thread as `workerData`, beside the bootstrap's own `file` and `register`.
 */
export function startModuleThread(besideFile: string, name: string, data: object = {}): Worker {
  const ext = path.extname(besideFile);
  return new Worker(BOOTSTRAP, {
    eval: true,
    workerData: { ...data, file: path.join(path.dirname(besideFile), `${name}${ext}`), register: ext === '.ts' ? require.resolve('tsx/cjs/api') : null },
  });
}
