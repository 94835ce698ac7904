import { ClerkProvider, SignIn, useAuth, useUser } from '@clerk/clerk-react';
import { useMemo, type ReactNode } from 'react';
import type { Session } from './session';

/**
 * Sign-in through Clerk's React SDK. Clerk's getToken() returns its cached session token while
 * it is fresh and a new one when it is not (tokens live 60 seconds), which is exactly what the
 * HTTP and WebSocket links ask for on every request and reconnection.
 */
export function ClerkRoot({ publishableKey, children }: { publishableKey: string; children(session: Session): ReactNode }) {
  return (
    <ClerkProvider publishableKey={publishableKey}>
      <ClerkGate>{children}</ClerkGate>
    </ClerkProvider>
  );
}

function ClerkGate({ children }: { children(session: Session): ReactNode }) {
  const { isLoaded, isSignedIn, getToken, signOut } = useAuth();
  const { user } = useUser();
  const session = useMemo<Session | null>(
    () => (isSignedIn ? { label: user?.primaryEmailAddress?.emailAddress ?? user?.id ?? '', getToken: () => getToken(), signOut: () => void signOut() } : null),
    [isSignedIn, user, getToken, signOut],
  );
  if (!isLoaded) return <p>Loading…</p>;
  if (!session) return <main className="signin"><SignIn routing="hash" /></main>;
  return <>{children(session)}</>;
}
