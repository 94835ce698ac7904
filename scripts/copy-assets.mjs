// Files the compiled server reads at run time, put where dist/src/... looks for them
// (paths relative to __dirname in src/graphql/schema.ts and src/store/migrate.ts).
import fs from 'node:fs';
fs.cpSync('schema', 'dist/schema', { recursive: true });
fs.cpSync('src/store/migrations', 'dist/src/store/migrations', { recursive: true });
