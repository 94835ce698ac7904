import { createFreshPostgres, postgresUnavailableReason, TEST_DATABASE_URL } from './databases';

/**
 * Decides once per run whether the PostgreSQL leg runs, and says so loudly when it does not.
 * Workers inherit process.env, so test files read the verdict synchronously at collection time.
 */
export default async function globalSetup(): Promise<void> {
  const reason = await postgresUnavailableReason();
  if (reason) {
    process.env.JOBLEDGER_PG_SKIP = reason;
    process.stderr.write(`\n*** PostgreSQL test leg SKIPPED: ${reason}. Only the PGlite leg runs. ***\n\n`);
    return;
  }
  // Build the migrated template now, so test files only clone it.
  const probe = await createFreshPostgres();
  await probe.drop();
  process.env.JOBLEDGER_PG_URL = TEST_DATABASE_URL;
  process.stderr.write(`PostgreSQL test leg: ${new URL(TEST_DATABASE_URL).host}\n`);
}
