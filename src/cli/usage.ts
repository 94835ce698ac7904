// What src/cli.ts prints and parses before it knows the command: kept apart from the commands'
// modules, which cli.ts loads only for the command that runs (so `serve` does not load them).

/** parseArgs options of `jobledger token` (shared by src/cli.ts). */
export const TOKEN_OPTIONS = {
  user: { type: 'string' },
  email: { type: 'string' },
  role: { type: 'string' },
  ttl: { type: 'string' },
  template: { type: 'string' },
  session: { type: 'string' },
  export: { type: 'boolean' },
  'list-templates': { type: 'boolean' },
} as const;

export const TOKEN_USAGE = `token --user ID [--email E] [--role admin|auditor] [--ttl SECONDS] [--export]
token --user ID | --session SID [--template NAME] [--ttl SECONDS] [--export]   (with CLERK_SECRET_KEY)
token --list-templates                                                         (with CLERK_SECRET_KEY)`;
