import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { GraphQLContext } from '../context';
import { AppError, ErrorCode, httpStatusForCode, INTERNAL_MESSAGE } from '../errors';
import type { Logger } from '../log';

// Codes a client may see as they are: ours, and Apollo's request/validation codes (all in ErrorCode).
const PASS_THROUGH = new Set<string>(Object.values(ErrorCode));

/**
 * Whether an error is our fault rather than the request's: not an AppError, not a code a client
 * may see as it is, not graphql-js input coercion. These are masked and logged.
 */
export function isUnexpected(error: unknown): boolean {
  const original = unwrapResolverError(error);
  if (original instanceof AppError) return false;
  const code = (error as GraphQLError | null)?.extensions?.code;
  if (typeof code === 'string' && PASS_THROUGH.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) return false;
  return !(original instanceof GraphQLError && !original.originalError && code === undefined);
}

/**
 * The one place errors leave the server. Known errors keep their code and message; anything
 * else becomes INTERNAL_SERVER_ERROR with no message detail (no stack, no SQL). Logging is not
 * done here (Apollo gives this function no request): errorStatusPlugin logs each unexpected
 * error once, with the request id the client also receives, and the WebSocket path through
 * `logUnexpected`.
 */
export function formatError() {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof AppError) {
      return { message: original.message, locations: formatted.locations, path: formatted.path, extensions: { ...original.extensions, code: original.code } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PASS_THROUGH.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      const { stacktrace: _s, exception: _e, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    // graphql-js errors with no code (e.g. variable coercion) are the client's input problem.
    if (original instanceof GraphQLError && !original.originalError && code === undefined) {
      return { message: formatted.message, locations: formatted.locations, extensions: { code: ErrorCode.BAD_USER_INPUT } };
    }
    return {
      message: INTERNAL_MESSAGE,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/** The server-side record of an unexpected error: message and stack, never sent to the client. */
export function logUnexpected(log: Logger, error: unknown, requestId: string | undefined): void {
  const err = unwrapResolverError(error);
  log.error('unexpected error', { requestId, err, path: (error as GraphQLError | null)?.path });
}

/**
 * Logs every unexpected error once, with its request id; adds the request id to every error;
 * applies the HTTP status rule: an operation that produced no data and whose every error is
 * UNAUTHENTICATED answers 401 (all FORBIDDEN: 403); and tells the access log and the metrics
 * the operation's name and the answer's error codes (`contextValue.observed`).
 */
export function errorStatusPlugin(log: Logger): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue }) {
          for (const e of errors) if (isUnexpected(e)) logUnexpected(log, e, contextValue?.requestId);
        },
        async willSendResponse({ response, contextValue, operation, operationName }) {
          const observed = contextValue?.observed;
          if (observed && operation) observed.operation = operationName ?? null;
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const errors = result.errors;
          if (!errors?.length) return;
          for (const e of errors) {
            (e.extensions as Record<string, unknown>).requestId = contextValue?.requestId;
            observed?.errorCodes.push(String(e.extensions?.code));
          }
          const data = result.data;
          const noData = data === null || data === undefined || Object.values(data).every((v) => v === null);
          if (!noData) return;
          const codes = new Set(errors.map((e) => e.extensions?.code));
          if (codes.size === 1) {
            const [only] = codes;
            if (only === ErrorCode.UNAUTHENTICATED || only === ErrorCode.FORBIDDEN) {
              response.http.status = httpStatusForCode(only);
              if (only === ErrorCode.UNAUTHENTICATED) response.http.headers.set('www-authenticate', 'Bearer');
            }
          }
        },
      };
    },
  };
}
