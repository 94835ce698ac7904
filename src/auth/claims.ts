import type { AuthConfig } from '../config';
import type { Principal, Role } from './principal';

type Claims = Record<string, unknown>;

const asString = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

function readPath(claims: Claims, dotted: string): unknown {
  let cur: unknown = claims;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * Maps verified Clerk session claims (v2, with v1 `org_*` fallbacks) onto a Principal.
 * Roles: USER for everyone; AUDITOR / ADMIN from the custom claim at `roleClaim`
 * (a string or an array of strings); ADMIN also from an active organization role `admin`.
 */
export function principalFromClaims(claims: Claims, auth: Pick<AuthConfig, 'roleClaim'>): Principal {
  const org = (claims.o && typeof claims.o === 'object' ? claims.o : {}) as Record<string, unknown>;
  const orgId = asString(org.id) ?? asString(claims.org_id);
  const rawOrgRole = asString(org.rol) ?? asString(claims.org_role);
  const orgRole = rawOrgRole ? rawOrgRole.replace(/^org:/, '') : null;
  const perRaw = org.per ?? claims.org_permissions;
  const orgPermissions = Array.isArray(perRaw)
    ? perRaw.filter((p): p is string => typeof p === 'string')
    : typeof perRaw === 'string'
      ? perRaw.split(',').map((p) => p.trim()).filter(Boolean)
      : [];

  const roleValue = readPath(claims, roleClaimPath(auth.roleClaim));
  const claimed = new Set(
    (Array.isArray(roleValue) ? roleValue : [roleValue])
      .filter((r): r is string => typeof r === 'string')
      .map((r) => r.toLowerCase()),
  );
  const roles: Role[] = ['USER'];
  const admin = claimed.has('admin') || orgRole === 'admin';
  if (claimed.has('auditor')) roles.push('AUDITOR');
  if (admin) roles.push('ADMIN');

  const act = claims.act && typeof claims.act === 'object' ? (claims.act as Record<string, unknown>) : null;
  const email = asString(claims.email) ?? asString(claims.primary_email) ?? asString(readPath(claims, 'metadata.email'));

  return {
    kind: 'user',
    userId: String(claims.sub),
    sessionId: asString(claims.sid),
    email,
    orgId,
    orgRole,
    orgPermissions,
    roles,
    impersonatorId: act ? asString(act.sub) : null,
    issuedAt: typeof claims.iat === 'number' ? new Date(claims.iat * 1000) : null,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
  };
}

const roleClaimPath = (p: string) => p.replace(/^\$?\.?/, '');
