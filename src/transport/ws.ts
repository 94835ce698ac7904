import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, parse, specifiedRules, validate, type GraphQLSchema, type ValidationRule } from 'graphql';
import type { Context } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerFromValue } from '../auth/bearer';
import { AuthFailure, AuthReason, KeysUnavailable } from '../auth/errors';
import type { Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/verify';
import { createContext, type Services } from '../context';
import { notTrusted, type TrustedDocuments } from '../graphql/trustedDocuments';
import { ErrorCode } from '../errors';
import type { Logger } from '../log';
import { addressKey, type AddressOf } from './clientAddress';
import type { FailureBudget } from './rateLimits';
import { metrics } from '../metrics';
import { websocketLog } from './accessLog';
import { assignRequestId } from './routes';

type Extra = {
  socket: WebSocket;
  request: IncomingMessage;
  token?: string | null;
  principal?: Principal | null;
  expiryTimer?: NodeJS.Timeout;
};

/** Close codes: 4401 for a refused or expired token (the client should fetch a new one and reconnect). */
export const WS_CLOSE_UNAUTHORIZED = 4401;
export const WS_CLOSE_UNAVAILABLE = 4503;
/**
 * 4429 when the client address has used up its refused-credential budget (the one HTTP and webhooks
 * draw on too); the reason is `Too Many Requests: retry-after=<seconds>`. graphql-ws clients treat
 * 4429 as fatal, so they do not reconnect at once: wait that long, then connect with a valid token.
 */
export const WS_CLOSE_TOO_MANY_REQUESTS = 4429;

export interface WsOptions {
  schema: GraphQLSchema;
  services: Services;
  verifier: TokenVerifier;
  log: Logger;
  validationRules: ValidationRule[];
  clockSkewMs: number;
  trusted?: TrustedDocuments;
  /** Where the upgrade request comes from (TRUST_PROXY). */
  addressOf: AddressOf;
  failures: FailureBudget;
  /** Masks an error for the client; `requestId` is the operation's (unexpected errors are logged with it). */
  formatError: (err: GraphQLError, requestId: string) => ReturnType<GraphQLError['toJSON']>;
}

/** graphql-ws on the HTTP server's /graphql path, authenticated from connectionParams. */
export function attachWebSocket(server: Server, opts: WsOptions): { close(): Promise<void> } {
  // noServer: with `server`, ws re-emits the HTTP server's errors (a port in use) on the
  // WebSocket server, where graphql-ws prints them with a stack trace as an "internal error".
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const lines = websocketLog(opts.log);
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    assignRequestId(req);
    wss.handleUpgrade(req, socket, head, (client) => {
      lines.watch(client, req);
      wss.emit('connection', client, req);
    });
  };
  server.on('upgrade', onUpgrade);
  const handle = useServer<Record<string, unknown>, Extra>(
    {
      schema: opts.schema,
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const raw = params.authorization ?? params.Authorization ?? (params.token ? `Bearer ${String(params.token)}` : undefined);
        let token: string | null;
        try {
          token = bearerFromValue(raw);
        } catch (err) {
          refuse(ctx, err, opts.log);
          return false;
        }
        ctx.extra.token = token;
        if (token === null) ctx.extra.principal = null;
        else {
          // The failure budget, as over HTTP: checked before the signature, counted on a refusal.
          const clientKey = addressKey(opts.addressOf(ctx.extra.request));
          const blocked = opts.failures.blocked(clientKey);
          if (blocked) return tooManyRequests(ctx, blocked);
          try {
            ctx.extra.principal = ctx.extra.request.principal = await opts.verifier.verify(token);
          } catch (err) {
            const over = err instanceof AuthFailure ? await opts.failures.refuse(clientKey) : 0;
            if (over) return tooManyRequests(ctx, over);
            refuse(ctx, err, opts.log);
            return false;
          }
        }
        lines.opened(ctx.extra.request);
        const exp = ctx.extra.principal?.expiresAt;
        if (exp) {
          // A socket outlives a 60-second Clerk token; when the token expires the socket closes
          // with 4401. graphql-ws clients treat 4401 as fatal, so the client subscribes again on
          // a new socket with a fresh token (README, "Frontend clients").
          const ms = Math.max(0, exp.getTime() + opts.clockSkewMs - Date.now());
          ctx.extra.expiryTimer = setTimeout(() => ctx.extra.socket.close(WS_CLOSE_UNAUTHORIZED, 'Unauthorized: token-expired'), Math.min(ms, 2 ** 31 - 1));
        }
        return true;
      },
      onDisconnect: (ctx) => clearTimeout(ctx.extra.expiryTimer),
      onClose: (ctx) => clearTimeout(ctx.extra.expiryTimer),
      onSubscribe: async (ctx, _id, payload) => {
        // Re-check on every operation: the session may have been revoked since connecting.
        if (ctx.extra.token) {
          try {
            await opts.verifier.verify(ctx.extra.token);
          } catch (err) {
            refuse(ctx, err, opts.log);
            return [new GraphQLError('Unauthorized', { extensions: { code: ErrorCode.UNAUTHENTICATED } })];
          }
        }
        const resolved = opts.trusted?.resolve(payload) ?? { kind: 'pass' };
        if (resolved.kind === 'refuse') return [notTrusted(resolved.message).toGraphQLError()];
        let document;
        try {
          // The same token limit as HTTP (Apollo's parseOptions in server.ts).
          document = parse(resolved.kind === 'document' ? resolved.query : payload.query, { maxTokens: 1000 });
        } catch (err) {
          return [new GraphQLError((err as Error).message, { extensions: { code: ErrorCode.GRAPHQL_PARSE_FAILED } })];
        }
        const errors = validate(opts.schema, document, [...specifiedRules, ...opts.validationRules]);
        if (errors.length) return errors.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: ErrorCode.GRAPHQL_VALIDATION_FAILED } }));
        const req = ctx.extra.request;
        return {
          schema: opts.schema,
          document,
          variableValues: payload.variables ?? undefined,
          operationName: payload.operationName ?? undefined,
          contextValue: createContext(opts.services, ctx.extra.principal ?? null, {
            requestId: randomUUID(),
            ip: opts.addressOf(req),
            userAgent: req.headers['user-agent'] ?? null,
          }),
        };
      },
      // Every error carries a requestId, as over HTTP: the operation's (its audit events carry
      // the same one), or a fresh one for an operation refused before it had a context.
      onError: (_ctx, _id, _payload, errors) => {
        const requestId = randomUUID();
        return errors.map((e) => withRequestId(opts.formatError(e, requestId), requestId));
      },
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!result.errors) return undefined;
        const requestId = (args.contextValue as { requestId?: string } | undefined)?.requestId ?? randomUUID();
        return { ...result, errors: result.errors.map((e) => withRequestId(opts.formatError(e, requestId), requestId)) };
      },
    },
    wss,
    15_000,
  );
  return {
    async close() {
      server.off('upgrade', onUpgrade);
      await handle.dispose(); // every socket is closed with 1001 Going Away
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function withRequestId(e: ReturnType<GraphQLError['toJSON']>, requestId: string): ReturnType<GraphQLError['toJSON']> {
  return { ...e, extensions: { ...e.extensions, requestId } };
}

function tooManyRequests(ctx: Context<Record<string, unknown>, Extra>, retryAfterSeconds: number): false {
  metrics.rateLimited('failed-token');
  ctx.extra.socket.close(WS_CLOSE_TOO_MANY_REQUESTS, `Too Many Requests: retry-after=${retryAfterSeconds}`);
  return false;
}

function refuse(ctx: Context<Record<string, unknown>, Extra>, err: unknown, log: Logger): void {
  if (err instanceof KeysUnavailable) {
    metrics.authFailure(String(err.extensions.reason));
    log.warn('websocket token verification unavailable', { requestId: ctx.extra.request.requestId, detail: err.detail });
    ctx.extra.socket.close(WS_CLOSE_UNAVAILABLE, 'Service Unavailable: jwks-unavailable');
    return;
  }
  const reason = err instanceof AuthFailure ? err.reason : AuthReason.tokenVerificationFailed;
  if (!(err instanceof AuthFailure)) log.error('token verification failed unexpectedly', { requestId: ctx.extra.request.requestId, err });
  metrics.authFailure(reason);
  ctx.extra.socket.close(WS_CLOSE_UNAUTHORIZED, `Unauthorized: ${reason}`);
}
