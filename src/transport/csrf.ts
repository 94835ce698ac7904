import { AppError, ErrorCode } from '../errors';
import { sendError, type Middleware } from './respond';

const SIMPLE_CONTENT_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'];
const CSRF_MESSAGE =
  'This request was blocked as a possible Cross-Site Request Forgery (CSRF). Send it with "Content-Type: application/json", ' +
  'or add a non-empty "apollo-require-preflight" (or "x-apollo-operation-name") header.';

/**
 * Apollo's CSRF prevention, applied before Apollo so the refusal has the same shape as every
 * other error, requestId included (Apollo refuses before its plugins run, so its own answer had
 * none). Same rule: a request a browser could send cross-site without a preflight (no content
 * type, or a "simple" one, and none of the preflight-forcing headers) is refused. Apollo's own
 * check stays on behind this one. A GET that asks for HTML is left to Apollo: that is the
 * landing page.
 */
export function csrfPrevention(): Middleware {
  return (req, res, next) => {
    if (req.method === 'OPTIONS') return next();
    if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) return next();
    const type = req.headers['content-type'];
    if (type !== undefined && !SIMPLE_CONTENT_TYPES.has(type.split(';')[0].trim().toLowerCase())) return next();
    if (PREFLIGHT_HEADERS.some((h) => typeof req.headers[h] === 'string' && (req.headers[h] as string).length > 0)) return next();
    sendError(req, res, new AppError(ErrorCode.BAD_REQUEST, CSRF_MESSAGE));
  };
}
