import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config';
import { AppError, ErrorCode } from '../errors';

/** A refused operation: OPERATION_NOT_TRUSTED, listed in the README's error table. */
export const notTrusted = (message: string) => new AppError(ErrorCode.OPERATION_NOT_TRUSTED, message);

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The parts of a GraphQL-over-HTTP (or graphql-ws subscribe) payload this module reads. */
export interface OperationPayload {
  query?: unknown;
  documentId?: unknown;
  extensions?: unknown;
}

export type Resolution =
  | { kind: 'document'; query: string }
  | { kind: 'pass' }
  | { kind: 'refuse'; message: string };

/**
 * Trusted documents. A client built with @graphql-codegen/client-preset's persisted documents
 * sends an operation by hash, either as Apollo's `extensions.persistedQuery.sha256Hash` (what
 * Apollo Client's persisted-query link sends) or as `documentId` (the GraphQL-over-HTTP
 * proposal, `sha256:<hex>` or bare hex). A hash found in the TRUSTED_DOCUMENTS manifest is
 * swapped for its document before Apollo sees the request.
 *
 * In production with a manifest, that is the only way in: query text, or a hash the manifest
 * does not hold, is refused before anything is parsed. Elsewhere other requests pass through
 * unchanged, so Apollo Sandbox and ad-hoc queries keep working in development.
 */
export class TrustedDocuments {
  constructor(
    private readonly documents: ReadonlyMap<string, string> | undefined,
    readonly only: boolean,
  ) {}

  static fromConfig(config: Pick<Config, 'graphql'>): TrustedDocuments {
    return new TrustedDocuments(config.graphql.trustedDocuments?.documents, config.graphql.trustedDocumentsOnly);
  }

  resolve(payload: OperationPayload): Resolution {
    const hash = hashOf(payload);
    const known = hash === undefined ? undefined : this.documents?.get(hash);
    if (known !== undefined) return { kind: 'document', query: known };
    if (this.only) {
      return {
        kind: 'refuse',
        message:
          hash === undefined
            ? 'This server runs only the operations of its registered clients, sent by hash (extensions.persistedQuery.sha256Hash or documentId). Build your client with persisted documents and deploy its manifest.'
            : 'This operation is not in the server\'s trusted documents. Deploy the manifest of the client build that sent it.',
      };
    }
    // `documentId` means nothing to Apollo: without a manifest entry there is nothing to run.
    if (typeof payload.documentId === 'string') {
      return { kind: 'refuse', message: 'Unknown documentId: start the server with TRUSTED_DOCUMENTS set to the manifest of this client build.' };
    }
    return { kind: 'pass' };
  }

  /**
   * Connect-style, after the JSON body parser and before Apollo. Rewrites a known hash into its
   * document (POST body, or GET query string) and refuses what `resolve` refuses: the error goes
   * to `next`, and the pipeline writes it like every other (400).
   */
  middleware(): Middleware {
    return (req, res, next) => {
      if (req.method === 'GET') {
        const url = new URL(req.url ?? '/', 'http://x');
        let extensions: unknown;
        try {
          extensions = url.searchParams.has('extensions') ? JSON.parse(url.searchParams.get('extensions')!) : undefined;
        } catch {
          extensions = undefined; // Apollo reports the malformed parameter itself
        }
        const r = this.resolve({ query: url.searchParams.get('query') ?? undefined, documentId: url.searchParams.get('documentId') ?? undefined, extensions });
        if (r.kind === 'refuse') return next(notTrusted(r.message));
        if (r.kind === 'document') {
          url.searchParams.set('query', r.query);
          url.searchParams.delete('documentId');
          const rest = withoutPersistedQuery(extensions);
          if (rest === undefined) url.searchParams.delete('extensions');
          else url.searchParams.set('extensions', JSON.stringify(rest));
          req.url = `${url.pathname}${url.search}`;
        }
        return next();
      }
      const body = (req as { body?: unknown }).body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        // Not an operation (Apollo answers the malformed body); but with trusted documents only,
        // nothing that is not a known hash gets further.
        return this.only ? next(notTrusted('Send one operation by hash as a JSON object.')) : next();
      }
      const payload = body as OperationPayload & Record<string, unknown>;
      const r = this.resolve(payload);
      if (r.kind === 'refuse') return next(notTrusted(r.message));
      if (r.kind === 'document') {
        payload.query = r.query;
        delete payload.documentId;
        const rest = withoutPersistedQuery(payload.extensions);
        if (rest === undefined) delete payload.extensions;
        else payload.extensions = rest;
      }
      next();
    };
  }
}

function hashOf(payload: OperationPayload): string | undefined {
  if (typeof payload.documentId === 'string') return payload.documentId.replace(/^sha256:/, '');
  const pq = (payload.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery;
  return typeof pq?.sha256Hash === 'string' ? pq.sha256Hash.replace(/^sha256:/, '') : undefined;
}

// Once the document is ours, Apollo's APQ must not see the hash: it would re-hash the text and
// cache it, which is pointless for a document the manifest already holds.
function withoutPersistedQuery(extensions: unknown): Record<string, unknown> | undefined {
  if (extensions === null || typeof extensions !== 'object') return undefined;
  const { persistedQuery: _dropped, ...rest } = extensions as Record<string, unknown>;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
