import type { Config } from '../config';
import type { Logger } from '../log';
import { loadOrCreateDevKey, type SigningKey } from './devIssuer';
import { createJwksKeySource } from './jwks';
import { withMachineTokens } from './m2m';
import { createTokenVerifier, staticKeySource, type KeySource, type SessionGate, type TokenVerifier } from './verify';

export interface AuthSetup {
  verifier: TokenVerifier;
  /** Only in development without Clerk keys: the local issuer's key (for `npm run token`). */
  devKey: SigningKey | null;
  describe: string;
}

/**
 * One verification path for every mode: the key differs (the dev issuer's, CLERK_JWT_KEY, or
 * the JWKS), the checks do not. loadConfig has already refused production without Clerk keys.
 */
export function createAuth(config: Config, log: Logger, gate?: SessionGate): AuthSetup {
  const auth = config.auth;
  let keys: KeySource;
  let devKey: SigningKey | null = null;
  let describe: string;
  switch (auth.mode) {
    case 'dev':
      devKey = loadOrCreateDevKey(config.dataDir);
      keys = staticKeySource(devKey.publicPem);
      describe = `local development issuer (key in ${config.dataDir}/dev-issuer, iss ${auth.issuer})`;
      break;
    case 'jwt-key':
      keys = staticKeySource(auth.jwtKey!);
      describe = `CLERK_JWT_KEY (networkless), iss ${auth.issuer}`;
      break;
    case 'jwks':
      keys = createJwksKeySource({ apiUrl: auth.apiUrl, secretKey: auth.secretKey!, minRefreshIntervalMs: auth.jwksMinRefreshIntervalMs, log });
      describe = `JWKS from ${auth.apiUrl}, iss ${auth.issuer}`;
      break;
  }
  if (auth.acceptM2mTokens) describe += '; Clerk M2M tokens (mt_) verified by the Backend API';
  const verifier = withMachineTokens(createTokenVerifier(auth, keys, gate), auth, { gate, log });
  return { verifier, devKey, describe };
}
