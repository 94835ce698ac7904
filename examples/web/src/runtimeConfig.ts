export interface RuntimeConfig {
  /** The GraphQL endpoint over HTTP; the WebSocket URL is derived from it. */
  apiUrl: string;
  clerkPublishableKey?: string;
}

/**
 * Build-time settings (VITE_*), overridden by a /config.json served next to index.html when the
 * host provides one: the same build then runs against any environment. Only the host that
 * serves the app can set it, never a URL parameter (that would let a link send tokens elsewhere).
 */
export async function loadRuntimeConfig(): Promise<RuntimeConfig> {
  const built: RuntimeConfig = {
    apiUrl: import.meta.env.VITE_API_URL ?? 'http://127.0.0.1:4000/graphql',
    clerkPublishableKey: import.meta.env.VITE_CLERK_PUBLISHABLE_KEY || undefined,
  };
  try {
    const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
    if (!res.ok || !/json/.test(res.headers.get('content-type') ?? '')) return built;
    const served = (await res.json()) as Partial<RuntimeConfig>;
    return { ...built, ...served };
  } catch {
    return built;
  }
}

export const wsUrlOf = (apiUrl: string): string => apiUrl.replace(/^http/, 'ws');
