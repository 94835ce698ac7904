/**
 * The stores every storage test runs against. PostgreSQL is in the list only when globalSetup
 * reached it; otherwise its leg is registered as skipped with the reason in its name, so the
 * skip shows in the test output instead of passing silently.
 */
export const STORE_KINDS = ['pglite', 'postgres'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

export const pgSkipReason = (): string | undefined => process.env.JOBLEDGER_PG_SKIP;

export function describeStore(kind: StoreKind, fn: () => void): void {
  const reason = kind === 'postgres' ? pgSkipReason() : undefined;
  // Skipped only when globalSetup could not reach PostgreSQL; the reason is in the suite name.
  if (reason) describe.skip(`${kind} store (SKIPPED: ${reason})`, fn);
  else describe(`${kind} store`, fn);
}
