import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { GraphQLContext } from '../context';
import { AppError, ErrorCode, httpStatusForCode, INTERNAL_MESSAGE } from '../errors';
import type { Logger } from '../log';

// Codes a client may see as they are: ours, and Apollo's request/validation codes (all in ErrorCode).
const PASS_THROUGH = new Set<string>(Object.values(ErrorCode));

/**
 * The one place errors leave the server. Known errors keep their code and message; anything
 * else becomes INTERNAL_SERVER_ERROR with no message detail (no stack, no SQL), and is logged
 * with the request id that the client also receives.
 */
export function formatError(log: Logger) {
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
    log.error('unexpected error', { error: (original as Error)?.message, stack: (original as Error)?.stack, path: formatted.path });
    return {
      message: INTERNAL_MESSAGE,
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/**
 * Adds the request id to every error, and applies the HTTP status rule: an operation that
 * produced no data and whose every error is UNAUTHENTICATED answers 401 (all FORBIDDEN: 403).
 */
export function errorStatusPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          const errors = result.errors;
          if (!errors?.length) return;
          for (const e of errors) (e.extensions as Record<string, unknown>).requestId = contextValue?.requestId;
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
