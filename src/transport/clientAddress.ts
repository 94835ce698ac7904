import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import proxyAddr from 'proxy-addr';
import type { TrustProxy } from '../config';

/** The client's address as this server believes it (TRUST_PROXY), or null when the socket has none. */
export type AddressOf = (req: IncomingMessage) => string | null;

const RESOLVED = Symbol('clientAddress');
type Memo = IncomingMessage & { [RESOLVED]?: string | null };

/**
 * The one place that decides where a request comes from: the audit trail's `ip`, the rate-limit
 * keys, WebSocket and webhook requests all ask this function. With TRUST_PROXY off it is the
 * socket's peer and X-Forwarded-For is ignored; otherwise proxy-addr walks X-Forwarded-For from
 * the socket outwards for as long as the hop is trusted, as Express's `req.ip` does.
 * The answer is kept on the request, so each request is resolved once.
 */
export function clientAddressResolver(trust: TrustProxy): AddressOf {
  if (trust.kind === 'off') return (req) => req.socket.remoteAddress ?? null;
  const trusted = trust.kind === 'hops' ? (_addr: string, i: number) => i < trust.hops : proxyAddr.compile(trust.addresses);
  return (req) => {
    const memo = req as Memo;
    if (memo[RESOLVED] !== undefined) return memo[RESOLVED];
    // proxy-addr reads the socket's address first; a socket already closed has none.
    const resolved = req.socket.remoteAddress === undefined ? null : proxyAddr(req, trusted);
    memo[RESOLVED] = resolved;
    return resolved;
  };
}

/**
 * The rate-limit key of a client address: IPv4 by address, IPv6 by its /64 (one customer's
 * network gets a /64 or more, so spraying addresses inside it must not buy fresh buckets).
 * IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is the IPv4 address.
 */
export function addressKey(address: string | null): string {
  if (address === null) return 'ip:unknown';
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return `ip:${address}`;
  }
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return `ip:${v6.toIPv4Address().toString()}`;
    const p = v6.parts;
    return `ip:${[p[0], p[1], p[2], p[3]].map((n) => n.toString(16)).join(':')}::/64`;
  }
  return `ip:${parsed.toString()}`;
}
