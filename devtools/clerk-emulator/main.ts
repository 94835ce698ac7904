import { startClerkEmulator } from './emulator';

/**
 * Runs the Clerk Backend API emulator for offline development:
 *   PORT=4010 npm run clerk-emulator
 * Optional: CLERK_SECRET_KEY, CLERK_ISSUER, CLERK_AUTHORIZED_PARTY (azp put in tokens).
 */
async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 4010);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number (got "${process.env.PORT}")`);
  const emulator = await startClerkEmulator({
    port,
    secretKey: process.env.CLERK_SECRET_KEY || undefined,
    issuer: process.env.CLERK_ISSUER || undefined,
    authorizedParty: process.env.CLERK_AUTHORIZED_PARTY || undefined,
  });
  // stdout carries only the env lines so `... > .env.local` works; the rest goes to stderr.
  process.stdout.write(
    [
      `CLERK_SECRET_KEY=${emulator.secretKey}`,
      `CLERK_PUBLISHABLE_KEY=${emulator.publishableKey}`,
      `CLERK_API_URL=${emulator.url}`,
      `CLERK_ISSUER=${emulator.issuer}`,
      'CLERK_TELEMETRY_DISABLED=1',
      '',
    ].join('\n'),
  );
  process.stderr.write(
    `Clerk emulator listening on ${emulator.url} (signing key ${emulator.currentKey.kid}).\n` +
      `Get a token: curl -s -X POST -H "Authorization: Bearer $CLERK_SECRET_KEY" -H "Content-Type: application/json" ` +
      `-d '{"user_id":"user_1"}' ${emulator.url}/v1/sessions, then POST ${emulator.url}/v1/sessions/<id>/tokens\n`,
  );
  const stop = () => {
    emulator.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`Clerk emulator failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
