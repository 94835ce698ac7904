import { ApolloProvider } from '@apollo/client/react';
import { StrictMode, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createApolloClient } from './apollo';
import { App } from './App';
import { ClerkRoot } from './ClerkRoot';
import { createDevSession, type DevProfile } from './devSession';
import { DevSignIn } from './DevSignIn';
import { loadRuntimeConfig, wsUrlOf, type RuntimeConfig } from './runtimeConfig';
import { SessionContext, type Session } from './session';
import './styles.css';

/** One Apollo client per signed-in session: signing out drops its cache and its socket. */
function SignedIn({ config, session }: { config: RuntimeConfig; session: Session }) {
  const client = useMemo(() => createApolloClient({ apiUrl: config.apiUrl, wsUrl: wsUrlOf(config.apiUrl), getToken: () => session.getToken() }), [config, session]);
  return (
    <SessionContext.Provider value={session}>
      <ApolloProvider client={client}>
        <App />
      </ApolloProvider>
    </SessionContext.Provider>
  );
}

function DevRoot({ config }: { config: RuntimeConfig }) {
  const [session, setSession] = useState<Session | null>(null);
  const [problem, setProblem] = useState<string>();
  async function signIn(profile: DevProfile) {
    const s = createDevSession(config.apiUrl, profile, () => setSession(null));
    try {
      await s.getToken(); // fail here, on the sign-in screen, rather than on the first query
      setProblem(undefined);
      setSession(s);
    } catch (err) {
      setProblem((err as Error).message);
    }
  }
  return session ? <SignedIn config={config} session={session} /> : <DevSignIn onSignIn={signIn} problem={problem} />;
}

const config = await loadRuntimeConfig();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {config.clerkPublishableKey ? (
      <ClerkRoot publishableKey={config.clerkPublishableKey}>{(session) => <SignedIn config={config} session={session} />}</ClerkRoot>
    ) : (
      <DevRoot config={config} />
    )}
  </StrictMode>,
);
