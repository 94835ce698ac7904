import type { Client, FormattedExecutionResult, Sink } from 'graphql-ws';

/** The server closes a socket with 4401 when its token expires or is refused. */
export const CLOSE_UNAUTHORIZED = 4401;

const isClose = (e: unknown): e is { code: number } => typeof (e as { code?: unknown })?.code === 'number';

/**
 * graphql-ws treats close code 4401 as fatal and fails every subscription on the socket. This
 * wrapper (given to Apollo's GraphQLWsLink in place of the client) starts each such subscription
 * again instead: graphql-ws opens a new socket, `connectionParams` fetches a fresh token, and the
 * server's first message is the job's current state, so nothing that changed in the gap is lost.
 *
 * Three 4401s within 30 seconds mean the token is refused, not merely expired (revoked session,
 * wrong issuer): then the error reaches the view, which asks the user to sign in again.
 */
export function resubscribeOnExpiry(client: Client): Client {
  return {
    ...client,
    subscribe<Data, Extensions>(payload: Parameters<Client['subscribe']>[0], sink: Sink<FormattedExecutionResult<Data, Extensions>>) {
      let stopped = false;
      let unsubscribe = () => {};
      const refusals: number[] = [];
      const start = () => {
        unsubscribe = client.subscribe<Data, Extensions>(payload, {
          next: (value) => sink.next(value),
          complete: () => sink.complete(),
          error: (err) => {
            if (stopped) return;
            if (isClose(err) && err.code === CLOSE_UNAUTHORIZED) {
              const now = Date.now();
              refusals.push(now);
              while (refusals.length > 0 && now - refusals[0] > 30_000) refusals.shift();
              if (refusals.length < 3) return start();
            }
            sink.error(err);
          },
        });
      };
      start();
      return () => {
        stopped = true;
        unsubscribe();
      };
    },
  };
}
