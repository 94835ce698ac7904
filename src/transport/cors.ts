import type { Config } from '../config';
import type { Middleware } from './respond';

// The embedded Apollo Sandbox runs in an iframe on Apollo's origin and calls the server from
// there; in development it is allowed by default so the landing page works out of the box.
const SANDBOX_ORIGINS = ['https://sandbox.embed.apollographql.com', 'https://studio.apollographql.com'];

/** CORS for browsers: only listed origins, credentials never (tokens travel in headers). */
export function cors(config: Pick<Config, 'corsOrigins' | 'production'>): Middleware {
  const allowed = new Set([...config.corsOrigins, ...(config.production ? [] : SANDBOX_ORIGINS)]);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && allowed.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Headers', 'authorization, content-type, apollo-require-preflight, x-apollo-operation-name, x-request-id');
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
      res.setHeader('Access-Control-Max-Age', '600');
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    next();
  };
}
