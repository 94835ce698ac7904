// Fails when src/generated/graphql.ts is not what `npm run codegen` would write from the
// schema: the resolver types must never drift from the contract.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const committed = path.join(root, 'src/generated/graphql.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-'));
const config = fs
  .readFileSync(path.join(root, 'codegen.yml'), 'utf8')
  .replace('src/generated/graphql.ts:', `${path.join(tmp, 'graphql.ts')}:`)
  .replace('contextType: ../context#', `contextType: ${path.join(root, 'src/context')}#`);
fs.writeFileSync(path.join(tmp, 'codegen.yml'), config);
try {
  execFileSync(path.join(root, 'node_modules/.bin/graphql-codegen'), ['--config', path.join(tmp, 'codegen.yml'), '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  // Paths inside the generated file are relative to its location; compare with them normalised.
  const norm = (s) => s.replaceAll(path.join(root, 'src/context'), '../context');
  const fresh = norm(fs.readFileSync(path.join(tmp, 'graphql.ts'), 'utf8'));
  if (fresh !== fs.readFileSync(committed, 'utf8')) {
    console.error('src/generated/graphql.ts is stale: run `npm run codegen` and commit the result.');
    process.exit(1);
  }
  console.log('codegen: src/generated/graphql.ts is current');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
