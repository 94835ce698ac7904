import { createContext, useContext } from 'react';

/**
 * What the app needs from whoever signs the user in (Clerk, or the development sign-in):
 * a token that is fresh when asked for. Callers ask on every request and every (re)connection
 * instead of keeping a token, because Clerk's live 60 seconds.
 */
export interface Session {
  /** Shown in the header. */
  label: string;
  getToken(): Promise<string | null>;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in tree');
  return s;
}
