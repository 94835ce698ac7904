import corsPackage from 'cors';
import type { Config } from '../config';
import type { Middleware } from './respond';

// The embedded Apollo Sandbox runs in an iframe on Apollo's origin and calls the server from
// there; in development it is allowed by default so the landing page works out of the box.
const SANDBOX_ORIGINS = ['https://sandbox.embed.apollographql.com', 'https://studio.apollographql.com'];

/** How long a browser may reuse a preflight answer (Chromium caps this at 2 hours). */
export const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * CORS for browsers: only listed origins, credentials never (tokens travel in headers, not
 * cookies). The origin list is a fixed array, so the `cors` package answers with
 * `Vary: Origin` whether or not the origin is allowed: a shared cache must never hand one
 * origin's answer to another. `x-request-id` and `Retry-After` are exposed because our error
 * messages tell clients to read them.
 */
export function cors(config: Pick<Config, 'corsOrigins' | 'production'>): Middleware {
  return corsPackage({
    origin: [...config.corsOrigins, ...(config.production ? [] : SANDBOX_ORIGINS)],
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'apollo-require-preflight', 'x-apollo-operation-name', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'Retry-After'],
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_SECONDS,
    optionsSuccessStatus: 204,
    preflightContinue: false,
  });
}
