/**
 * Folders are layers (docs/architecture in the README): store < audit < jobs < graphql/transport,
 * with cli/ and server.ts at the top; auth below authz. `npm test` runs this check; it fails on any
 * import cycle (type-only imports count: tsPreCompilationDeps) and on a lower layer importing a
 * higher one. config.ts, errors.ts, log.ts, metrics.ts, threads.ts and generated/ sit below
 * everything and may be used from anywhere.
 *
 * Known exceptions are listed by name in KNOWN below, each with why it is still there; an empty
 * list is the goal.
 */

// The request context and the API layers above jobs.
const API = '^src/(graphql|transport|authz)/|^src/context\\.ts$';
const TOP = '^src/cli/|^src/cli\\.ts$|^src/server\\.ts$';

/** [from, to] module paths that break a layer rule today, kept so the check can fail on anything new. */
const KNOWN = [];

const except = (rule) => ({
  ...rule,
  to: { ...rule.to, pathNot: KNOWN.filter(([from]) => new RegExp(rule.from.path).test(from)).map(([, to]) => `^${to.replace(/\./g, '\\.')}$`) },
});

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'An import cycle (type-only included) means two modules own one concept between them.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-modules-below-everything',
      comment: 'config, errors, log and metrics are used by every layer, so they import none of them.',
      severity: 'error',
      from: { path: '^src/(config|errors|log|metrics)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(config|errors|log|metrics)\\.ts$' },
    },
    except({
      name: 'store-is-the-bottom',
      comment: 'The store knows rows, not the audit trail, jobs, auth or the API.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: `^src/(audit|jobs|auth|authz|clerk)/|${API}|${TOP}` },
    }),
    except({
      name: 'audit-below-jobs',
      comment: 'The audit trail records what the layers above do; it never calls them.',
      severity: 'error',
      from: { path: '^src/audit/' },
      to: { path: `^src/(jobs|auth|clerk)/|${API}|${TOP}` },
    }),
    except({
      name: 'jobs-below-the-api',
      comment: 'Jobs are a domain: GraphQL, HTTP, WebSocket and authorization are built on them, not the reverse.',
      severity: 'error',
      from: { path: '^src/jobs/' },
      to: { path: `${API}|${TOP}` },
    }),
    except({
      name: 'auth-below-authz',
      comment: 'Who the caller is (auth) is decided before, and without, what they may do (authz).',
      severity: 'error',
      from: { path: '^src/auth/' },
      to: { path: `^src/authz/|^src/(graphql|transport)/|^src/context\\.ts$|${TOP}` },
    }),
    except({
      name: 'api-below-the-entry-points',
      comment: 'Only the entry points (cli.ts, cli/, server.ts) assemble the server.',
      severity: 'error',
      from: { path: '^src/', pathNot: TOP },
      to: { path: TOP },
    }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^src/generated/' },
  },
};
