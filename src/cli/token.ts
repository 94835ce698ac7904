import type { Config } from '../config';
import { loadOrCreateDevKey, signSessionToken } from '../auth/devIssuer';

export interface TokenArgs {
  user: string;
  email?: string;
  role?: 'admin' | 'auditor';
  ttlSeconds?: number;
}

/**
 * Mints a token from the local development issuer: the same function jest suites call to get a
 * fresh token per request. Refuses when the server would not accept it (Clerk keys configured).
 */
export async function mintLocalToken(config: Config, args: TokenArgs): Promise<string> {
  if (config.auth.mode !== 'dev') {
    throw new Error(
      'Clerk keys are configured (CLERK_JWT_KEY or CLERK_SECRET_KEY), so the server does not accept local development tokens. ' +
        'Unset them to use the local issuer, or get a token from your Clerk instance.',
    );
  }
  const key = loadOrCreateDevKey(config.dataDir);
  return signSessionToken(key, config.auth.issuer, {
    userId: args.user,
    email: args.email,
    role: args.role,
    ttlSeconds: args.ttlSeconds,
    azp: config.auth.authorizedParties[0],
  });
}

export function parseTokenArgs(values: Record<string, string | boolean | undefined>): TokenArgs {
  const user = values.user;
  if (typeof user !== 'string' || !/^[\w:.@-]{1,128}$/.test(user)) {
    throw new Error('--user ID is required (letters, digits, _ : . @ -), e.g. npm run token -- --user user_alice');
  }
  const role = values.role;
  if (role !== undefined && role !== 'admin' && role !== 'auditor') throw new Error('--role must be admin or auditor.');
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 24 * 3600)) {
    throw new Error('--ttl must be a number of seconds from 1 to 604800.');
  }
  return { user, email: typeof values.email === 'string' ? values.email : undefined, role, ttlSeconds: ttl };
}
