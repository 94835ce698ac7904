import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type bodyParser from 'body-parser';
import { createContext, type GraphQLContext, type Services } from '../context';
import { AppError, ErrorCode, internalError } from '../errors';
import type { Logger } from '../log';
import type { AddressOf } from './clientAddress';
import { pipeline, sendError, type Middleware } from './respond';

export interface GraphQLHttpOptions {
  apollo: ApolloServer<GraphQLContext>;
  services: Services;
  log: Logger;
  maxBodyBytes: number;
  /** Where the request comes from (TRUST_PROXY): the audit trail's `ip`. */
  addressOf: AddressOf;
  /** What runs before the body is read (CORS) and after it (authentication, rate limit). */
  beforeBody: Middleware[];
  afterBody: Middleware[];
}

/**
 * POST and GET /graphql on plain node:http: the steps, then Apollo's own HTTP entry point.
 * This is what @as-integrations/express5 did, minus Express's router, its request and response
 * prototypes and its per-request layer walk, which cost a fifth of the list query's CPU.
 */
// Only the JSON parser: body-parser's index also loads the urlencoded parser and qs at start-up.
const jsonParser = require('body-parser/json') as typeof bodyParser.json;

export function graphqlHttpHandler(opts: GraphQLHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const json = jsonParser({ limit: opts.maxBodyBytes }) as unknown as Middleware;
  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    if (res.headersSent) return void res.destroy();
    if (err instanceof AppError) return sendError(req, res, err);
    const type = (err as { type?: string } | null)?.type;
    if (type === 'entity.too.large') {
      return sendError(req, res, new AppError(ErrorCode.BAD_REQUEST, `The request body is larger than ${opts.maxBodyBytes} bytes.`, {}, { status: 413 }));
    }
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported' || type === 'entity.verify.failed') {
      return sendError(req, res, new AppError(ErrorCode.BAD_REQUEST, 'The request body is not valid JSON. Send {"query": "...", "variables": {...}}.'));
    }
    if (type === 'request.aborted') return void res.destroy();
    opts.log.error('unexpected error', { requestId: req.requestId, err });
    sendError(req, res, internalError());
  };
  const execute = (req: IncomingMessage, res: ServerResponse) => {
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const url = req.url ?? '';
    const q = url.indexOf('?');
    opts.apollo
      .executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: q >= 0 ? url.slice(q) : '', body: req.body },
        context: async () => {
          const context = createContext(opts.services, req.principal ?? null, {
            requestId: req.requestId,
            ip: opts.addressOf(req),
            userAgent: req.headers['user-agent'] ?? null,
          });
          req.observed = context.observed; // errorStatusPlugin fills it in
          return context;
        },
      })
      .then(async (response) => {
        for (const [k, v] of response.headers) res.setHeader(k, v);
        res.statusCode = response.status ?? 200;
        if (response.body.kind === 'complete') return void res.end(response.body.string);
        for await (const chunk of response.body.asyncIterator) res.write(chunk);
        res.end();
      })
      .catch((err: unknown) => fail(req, res, err));
  };
  return pipeline([...opts.beforeBody, json, ...opts.afterBody], execute, fail);
}
