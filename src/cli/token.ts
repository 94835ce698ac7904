import type { Config } from '../config';
import { listTemplates, mintToken, mintTokenDetailed } from '../clerk/tokens';

export interface TokenArgs {
  user: string;
  email?: string;
  role?: 'admin' | 'auditor';
  ttlSeconds?: number;
}

export interface TokenCommandArgs {
  user?: string;
  email?: string;
  role?: 'admin' | 'auditor';
  ttlSeconds?: number;
  template?: string;
  session?: string;
  export: boolean;
  listTemplates: boolean;
}

export { TOKEN_OPTIONS, TOKEN_USAGE } from './usage';

/**
 * Mints a token from the local development issuer. Refuses when the server would not accept it
 * (Clerk keys configured). Kept for callers that want only the local issuer.
 */
export async function mintLocalToken(config: Config, args: TokenArgs): Promise<string> {
  if (config.auth.mode !== 'dev') {
    throw new Error(
      'Clerk keys are configured (CLERK_JWT_KEY or CLERK_SECRET_KEY), so the server does not accept local development tokens. ' +
        'Unset them to use the local issuer, or get a token from your Clerk instance.',
    );
  }
  return mintToken(config, { user: args.user, email: args.email, role: args.role, ttlSeconds: args.ttlSeconds });
}

const ID = /^[\w:.@-]{1,128}$/;

export function parseTokenArgs(values: Record<string, string | boolean | undefined>): TokenArgs {
  const user = values.user;
  if (typeof user !== 'string' || !ID.test(user)) {
    throw new Error('--user ID is required (letters, digits, _ : . @ -), e.g. npm run token -- --user user_alice');
  }
  const { email, role, ttlSeconds } = parseTokenCommandArgs(values);
  return { user, email, role, ttlSeconds };
}

export function parseTokenCommandArgs(values: Record<string, string | boolean | undefined>): TokenCommandArgs {
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const user = str('user');
  const session = str('session');
  const template = str('template');
  const list = values['list-templates'] === true;
  if (user !== undefined && !ID.test(user)) throw new Error('--user must be an id of letters, digits, _ : . @ - (e.g. user_2abc...).');
  if (session !== undefined && !/^[\w-]{1,128}$/.test(session)) throw new Error('--session must be a session id (sess_...).');
  if (template !== undefined && !/^[\w.-]{1,128}$/.test(template)) throw new Error('--template must be a JWT template name (see --list-templates).');
  if (!list && user === undefined && session === undefined) {
    throw new Error('--user ID is required (letters, digits, _ : . @ -), e.g. npm run token -- --user user_alice (or --session SID, or --list-templates)');
  }
  const role = str('role');
  if (role !== undefined && role !== 'admin' && role !== 'auditor') throw new Error('--role must be admin or auditor.');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 24 * 3600)) {
    throw new Error('--ttl must be a number of seconds from 1 to 604800.');
  }
  return { user, session, template, email: str('email'), role, ttlSeconds: ttl, export: values.export === true, listTemplates: list };
}

/**
 * `npm run token`: what to print on stdout (only the token, or the export line, or the template
 * list, so `$(npm run -s token ...)` and `eval` work) and a note for stderr.
 */
export async function runTokenCommand(config: Config, values: Record<string, string | boolean | undefined>): Promise<{ stdout: string; stderr?: string }> {
  const args = parseTokenCommandArgs(values);
  if (args.listTemplates) {
    const templates = await listTemplates(config);
    if (templates.length === 0) return { stdout: '', stderr: 'This Clerk instance has no JWT templates (Clerk dashboard -> JWT templates).' };
    return { stdout: templates.map((t) => `${t.name}\t${t.lifetime ?? '?'}s\t${t.id}\tclaims: ${Object.keys(t.claims).join(', ') || '-'}`).join('\n') };
  }
  const minted = await mintTokenDetailed(config, {
    user: args.user,
    sessionId: args.session,
    template: args.template,
    ttlSeconds: args.ttlSeconds,
    email: args.email,
    role: args.role,
  });
  const stdout = args.export ? `export CLERK_TOKEN=${shellQuote(minted.token)}` : minted.token;
  const stderr =
    minted.source === 'clerk'
      ? `Clerk ${args.template ? `template "${args.template}" ` : ''}token for session ${minted.sessionId} (mint again for this session: --session ${minted.sessionId}).`
      : undefined;
  return { stdout, stderr };
}

// JWTs are base64url and dots, which a shell never interprets; quote anything else.
const shellQuote = (s: string): string => (/^[\w.-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
