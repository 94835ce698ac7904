import { badInput } from '../errors';

export const MAX_PAGE_SIZE = 100;

/** Opaque keyset cursors: base64url of `<kind>:<seq>`. The kind stops a job cursor being used for events. */
export function encodeCursor(kind: string, seq: string): string {
  return Buffer.from(`${kind}:${seq}`).toString('base64url');
}

export function decodeCursor(kind: string, cursor: string | null | undefined): string | null {
  if (cursor === null || cursor === undefined) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^([a-z]+):(\d{1,19})$/.exec(text);
  if (!m || m[1] !== kind) {
    throw badInput('`after` is not a cursor from this list. Pass an endCursor or edge cursor returned by the same field.', 'after');
  }
  return m[2];
}

export function checkPageSize(first: number | null | undefined, dflt: number): number {
  const n = first ?? dflt;
  if (!Number.isInteger(n) || n < 0 || n > MAX_PAGE_SIZE) {
    throw badInput(`\`first\` must be between 0 and ${MAX_PAGE_SIZE}; page with \`after\` for more.`, 'first');
  }
  return n;
}

export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Builds a connection from `limit + 1` rows fetched in order: the extra row only says "there is more". */
export function toPage<T extends { seq: string }>(kind: string, rows: T[], limit: number): Page<T> {
  const slice = rows.slice(0, limit);
  const edges = slice.map((node) => ({ cursor: encodeCursor(kind, node.seq), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.length ? edges[edges.length - 1].cursor : null },
  };
}
