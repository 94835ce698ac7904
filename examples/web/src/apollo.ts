import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { getOperationAST, type DocumentNode } from 'graphql';
import { createClient } from 'graphql-ws';
import * as generated from './gql/graphql';
import { resubscribeOnExpiry } from './wsLink';

/** Operation name -> the sha256 that codegen's persisted-documents manifest files it under. */
const hashes = new Map<string, string>();
for (const value of Object.values(generated)) {
  const doc = value as { kind?: string; __meta__?: { hash?: string } };
  if (doc?.kind !== 'Document' || !doc.__meta__?.hash) continue;
  const name = getOperationAST(doc as DocumentNode)?.name?.value;
  if (name) hashes.set(name, doc.__meta__.hash.replace(/^sha256:/, ''));
}

export interface ClientOptions {
  apiUrl: string;
  wsUrl: string;
  getToken(): Promise<string | null>;
}

export function createApolloClient({ apiUrl, wsUrl, getToken }: ClientOptions): ApolloClient {
  // A token fetched per request: a cached one while it is fresh, a new one when it is not.
  const auth = new SetContextLink(async (prev) => {
    const token = await getToken();
    return { headers: { ...prev.headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } };
  });

  // Operations go by hash (trusted documents). A server without the manifest answers
  // PERSISTED_QUERY_NOT_FOUND; the link then sends the text, without the hash, from then on.
  const persisted = new PersistedQueryLink({
    generateHash: (doc) => {
      const name = getOperationAST(doc)?.name?.value;
      const hash = name ? hashes.get(name) : undefined;
      if (!hash) throw new Error(`Operation ${name ?? '(anonymous)'} is not in the generated documents: run npm run codegen.`);
      return hash;
    },
    disable: ({ meta }) => meta.persistedQueryNotSupported || meta.persistedQueryNotFound,
  });

  const ws = new GraphQLWsLink(
    resubscribeOnExpiry(
      createClient({
      url: wsUrl,
      lazy: true,
      // Asked again on every (re)connection, so a reconnect after the server closed an expired
      // token's socket (4401) carries a fresh token.
      connectionParams: async () => {
        const token = await getToken();
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      retryAttempts: Infinity,
      shouldRetry: () => true,
      }),
    ),
  );

  const isSubscription = ({ query }: { query: DocumentNode }) => {
    const def = getMainDefinition(query);
    return def.kind === 'OperationDefinition' && def.operation === 'subscription';
  };

  return new ApolloClient({
    link: ApolloLink.from([persisted, ApolloLink.split(isSubscription, ws, ApolloLink.from([auth, new HttpLink({ uri: apiUrl })]))]),
    // Test case ids (TC-URS-001) repeat across jobs: keep them inside their job, unnormalised.
    cache: new InMemoryCache({ typePolicies: { TestCase: { keyFields: false } } }),
  });
}
