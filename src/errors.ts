import { GraphQLError } from 'graphql';

/**
 * Every error a client can see carries one of these codes in `extensions.code`: ours, and the
 * transport and document codes that Apollo and our HTTP layer answer with before anything runs.
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  CONFLICT: 'CONFLICT',
  RATE_LIMITED: 'RATE_LIMITED',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  /** The HTTP request itself is unusable: malformed JSON, too large, CSRF-unsafe. */
  BAD_REQUEST: 'BAD_REQUEST',
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  /** With trusted documents: an operation that is not in the manifest. */
  OPERATION_NOT_TRUSTED: 'OPERATION_NOT_TRUSTED',
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_NOT_SUPPORTED: 'PERSISTED_QUERY_NOT_SUPPORTED',
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const httpStatusOf: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
  BAD_REQUEST: 400,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  OPERATION_NOT_TRUSTED: 400,
  PERSISTED_QUERY_NOT_FOUND: 200,
  PERSISTED_QUERY_NOT_SUPPORTED: 200,
  OPERATION_RESOLUTION_FAILURE: 400,
};

/** The masked message of every error we did not expect; the client quotes the requestId. */
export const INTERNAL_MESSAGE = 'Something went wrong on our side. Retry; if it keeps happening, report the requestId.';

/** A failure we expect and explain: its message is written for the client. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly extensions: Record<string, unknown>;

  private readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}, opts: { status?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.extensions = extensions;
    this.status = opts.status;
  }

  /** The status when this error ends an HTTP request before GraphQL runs. */
  get httpStatus(): number {
    return this.status ?? httpStatusOf[this.code];
  }

  /** Response headers that tell the client what to do next (WWW-Authenticate, Retry-After). */
  httpHeaders(): Record<string, string> {
    return {};
  }

  toGraphQLError(): GraphQLError {
    return new GraphQLError(this.message, {
      extensions: { ...this.extensions, code: this.code },
    });
  }
}

/**
 * The one shape of an error body outside GraphQL execution (HTTP pipeline, dev sign-in, webhooks,
 * unknown routes), the same as inside it. transport/respond.ts `sendError` writes it.
 */
export function errorBody(err: AppError, requestId: string | undefined): { errors: { message: string; extensions: Record<string, unknown> }[] } {
  return { errors: [{ message: err.message, extensions: { ...err.extensions, code: err.code, requestId } }] };
}

export const internalError = () => new AppError(ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE);

export const rateLimited = (perMinute: number, retryAfterSeconds: number) =>
  new RateLimited(`Too many requests: at most ${perMinute} a minute. Retry after the Retry-After header's seconds.`, retryAfterSeconds);

export const tooManyRefusals = (perMinute: number, retryAfterSeconds: number) =>
  new RateLimited(
    `Too many refused credentials from this address: at most ${perMinute} a minute. Retry after the Retry-After header's seconds with a valid token.`,
    retryAfterSeconds,
  );

export class RateLimited extends AppError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(ErrorCode.RATE_LIMITED, message);
    this.name = 'RateLimited';
  }
  override httpHeaders(): Record<string, string> {
    return { 'retry-after': String(this.retryAfterSeconds) };
  }
}

export const badInput = (message: string, field?: string) =>
  new AppError(ErrorCode.BAD_USER_INPUT, message, field ? { field } : {});
export const forbidden = (message = 'You do not have access to this resource. Sign in as its owner, an auditor or an admin.') =>
  new AppError(ErrorCode.FORBIDDEN, message);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
export const notFound = (message: string) => new AppError(ErrorCode.NOT_FOUND, message);

export function httpStatusForCode(code: unknown): number | undefined {
  return typeof code === 'string' && code in httpStatusOf ? httpStatusOf[code as ErrorCode] : undefined;
}

/** Thrown at start-up: every problem with the configuration, reported together. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
