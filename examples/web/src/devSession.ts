import type { Session } from './session';

export interface DevProfile {
  userId: string;
  email?: string;
  role?: '' | 'auditor' | 'admin';
  /** Token lifetime; Clerk's is 60 seconds. Shorter lifetimes exercise the refresh paths. */
  ttlSeconds: number;
}

/**
 * The development sign-in: tokens from the server's development issuer (POST /dev/token, which
 * exists only on a development server without Clerk keys listening on loopback). Like Clerk's
 * getToken(), a cached token is returned while it has a good part of its life left, and one
 * request mints a new one for every caller waiting at that moment.
 */
export function createDevSession(apiUrl: string, profile: DevProfile, onSignOut: () => void): Session {
  const endpoint = new URL('/dev/token', apiUrl).toString();
  let current: { token: string; expiresAt: number } | null = null;
  let pending: Promise<string> | null = null;
  const margin = Math.min(10_000, (profile.ttlSeconds * 1000) / 2);

  async function mint(): Promise<string> {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: profile.userId, email: profile.email || undefined, role: profile.role || undefined, ttlSeconds: profile.ttlSeconds }),
    });
    if (res.status === 404) throw new Error('This server has no development sign-in (it uses Clerk, runs in production, or listens beyond loopback).');
    const body = (await res.json().catch(() => ({}))) as { token?: string; expiresAt?: string; errors?: { message?: string }[] };
    if (!res.ok || !body.token || !body.expiresAt) throw new Error(body.errors?.[0]?.message ?? `Development sign-in failed (HTTP ${res.status}).`);
    current = { token: body.token, expiresAt: Date.parse(body.expiresAt) };
    return body.token;
  }

  return {
    label: profile.email || profile.userId,
    async getToken() {
      if (current && current.expiresAt - Date.now() > margin) return current.token;
      pending ??= mint().finally(() => (pending = null));
      return pending;
    },
    signOut() {
      current = null;
      onSignOut();
    },
  };
}
