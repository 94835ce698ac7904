import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import ts from 'typescript';

// Every code block in README.md and docs/*.md must work as written: TypeScript blocks type-check
// as files of this repository (placed in test/, so '../src/...' imports resolve, with no
// top-level await), GraphQL blocks validate against the schema, and shell blocks name only npm
// scripts and files that exist.

const ROOT = path.join(__dirname, '..');
const DOCS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function blocks(lang: string): { where: string; code: string }[] {
  const out: { where: string; code: string }[] = [];
  for (const doc of DOCS) {
    const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^(\s*)```(\w*)\s*$/.exec(lines[i]);
      if (!open) continue;
      const indent = open[1].length;
      let j = i + 1;
      while (j < lines.length && !/^\s*```\s*$/.test(lines[j])) j++;
      if (open[2] === lang) out.push({ where: `${doc}:${i + 1}`, code: lines.slice(i + 1, j).map((l) => l.slice(indent)).join('\n') });
      i = j;
    }
  }
  return out;
}

test('TypeScript blocks type-check', () => {
  const snippets = blocks('ts');
  expect(snippets.length).toBeGreaterThanOrEqual(4);
  const dir = fs.mkdtempSync(path.join(__dirname, '.doc-snippets-'));
  try {
    const files = snippets.map((s, i) => {
      const file = path.join(dir, `snippet${i}.ts`);
      // One directory deeper than test/: rewrite the documented '../src' to reach the same files.
      fs.writeFileSync(file, `export {};\n${s.code.replace(/(['"])\.\.\/src\//g, '$1../../src/')}\n`);
      return file;
    });
    const config = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
    const program = ts.createProgram(files, { ...parsed.options, noEmit: true });
    const problems = files.flatMap((f, i) =>
      ts.getPreEmitDiagnostics(program, program.getSourceFile(f)).map((d) => `${snippets[i].where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`),
    );
    expect(problems).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('GraphQL blocks validate against the schema', () => {
  const schema = buildSchema(fs.readFileSync(path.join(ROOT, 'schema', 'schema.graphql'), 'utf8'));
  const snippets = blocks('graphql');
  expect(snippets.length).toBeGreaterThan(0);
  for (const s of snippets) {
    for (const line of s.code.split('\n').filter((l) => l.trim())) {
      expect({ where: s.where, line, errors: validate(schema, parse(line)).map((e) => e.message) }).toEqual({ where: s.where, line, errors: [] });
    }
  }
});

// `tsx` blocks are excerpts of the example web client (examples/web/src), whose sources the
// browser tests' build type-checks against the client's own packages; `ts` blocks run here.
test('shell blocks name npm scripts and files that exist', () => {
  const scriptsOf = (dir: string) => Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
  for (const s of blocks('sh')) {
    for (const line of s.code.split('\n')) {
      // `cd examples/web && npm run dev` names the client's scripts, not the server's.
      const dir = /^\s*cd (\S+) &&/.exec(line)?.[1] ?? '.';
      const scripts = scriptsOf(dir);
      for (const m of line.matchAll(/npm run (?:-s )?([\w:-]+)/g)) expect({ where: s.where, script: m[1], known: scripts.includes(m[1]) }).toEqual({ where: s.where, script: m[1], known: true });
    }
    for (const m of s.code.matchAll(/npx tsx (\S+)/g)) expect({ where: s.where, file: m[1], exists: fs.existsSync(path.join(ROOT, m[1])) }).toEqual({ where: s.where, file: m[1], exists: true });
  }
});
