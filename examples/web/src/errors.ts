import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';

export interface Described {
  /** The API's extensions.code, or a client-side stand-in (NETWORK). */
  code: string;
  message: string;
  /** The user must sign in again (401 / UNAUTHENTICATED). */
  signIn: boolean;
  /** Seconds from Retry-After, for 429 and 503. */
  retryAfter?: number;
  requestId?: string;
}

interface WireError {
  message?: string;
  extensions?: { code?: string; reason?: string; requestId?: string; field?: string };
}

/**
 * Every error the API can return, as a sentence for the person at the screen. The server's own
 * message is written for developers; this one says what the user can do.
 */
export function describeError(error: unknown): Described {
  let first: WireError | undefined;
  let status: number | undefined;
  let retryAfter: number | undefined;
  if (CombinedGraphQLErrors.is(error)) {
    first = error.errors[0] as WireError;
  } else if (ServerError.is(error)) {
    status = error.statusCode;
    const header = error.response.headers.get('Retry-After');
    retryAfter = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
    try {
      first = (JSON.parse(error.bodyText) as { errors?: WireError[] }).errors?.[0];
    } catch {
      first = undefined;
    }
  } else if (error instanceof Error && /Socket closed with event 4401/.test(error.message)) {
    first = { extensions: { code: 'UNAUTHENTICATED', reason: error.message.replace(/^.*Unauthorized: /, '') } };
  }
  const code = first?.extensions?.code ?? (status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'FORBIDDEN' : status === 429 ? 'RATE_LIMITED' : status ? 'HTTP_' + status : 'NETWORK');
  const requestId = first?.extensions?.requestId;
  const serverSays = first?.message;
  const base = { code, requestId, signIn: false, retryAfter };
  switch (code) {
    case 'UNAUTHENTICATED': {
      const reason = first?.extensions?.reason;
      return { ...base, signIn: true, message: `Your session has ended${reason ? ` (${reason})` : ''}. Sign in again.` };
    }
    case 'FORBIDDEN':
      return { ...base, message: 'You do not have access to this. Only its owner, an auditor or an admin can see it.' };
    case 'RATE_LIMITED':
      return { ...base, message: `Too many requests. Try again in ${retryAfter ?? 60} seconds.` };
    case 'NOT_FOUND':
      return { ...base, message: 'Not found: it may have been removed, or the link is wrong.' };
    case 'BAD_USER_INPUT':
      return { ...base, message: `Please check your input: ${serverSays ?? 'a value is not accepted.'}` };
    case 'CONFLICT':
      return { ...base, message: `That cannot be done now: ${serverSays ?? 'the job has changed.'}` };
    case 'SERVICE_UNAVAILABLE':
      return { ...base, message: `The server cannot check sign-ins right now. Try again in ${retryAfter ?? 5} seconds.` };
    case 'OPERATION_NOT_TRUSTED':
      return { ...base, message: 'This version of the app is not registered with the server. Reload the page to get the current version.' };
    case 'GRAPHQL_VALIDATION_FAILED':
    case 'GRAPHQL_PARSE_FAILED':
    case 'PERSISTED_QUERY_NOT_FOUND':
    case 'BAD_REQUEST':
      return { ...base, message: 'The app and the server do not match. Reload the page; if this persists, report the request id.' };
    case 'NETWORK':
      return { ...base, message: 'The server cannot be reached. Check your connection; the app retries by itself.' };
    default:
      return { ...base, message: 'Something went wrong on the server. Try again; if it keeps happening, report the request id.' };
  }
}
