import { GraphQLError } from 'graphql';

/**
 * Every error a client can see carries one of these codes in `extensions.code`.
 * Apollo's own parse/validation codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
 * BAD_REQUEST, PERSISTED_QUERY_NOT_FOUND, ...) pass through unchanged.
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
};

/** A failure we expect and explain: its message is written for the client. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly extensions: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.extensions = extensions;
  }

  get httpStatus(): number {
    return httpStatusOf[this.code];
  }

  toGraphQLError(): GraphQLError {
    return new GraphQLError(this.message, {
      extensions: { ...this.extensions, code: this.code },
    });
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
