export type Role = 'USER' | 'AUDITOR' | 'ADMIN';

/** Who is calling, as established by a verified token. Never built from unverified data. */
export interface Principal {
  kind: 'user' | 'machine';
  /** Clerk user id (`sub`), or the machine id for machine tokens. */
  userId: string;
  sessionId: string | null;
  email: string | null;
  orgId: string | null;
  /** Organization role without the `org:` prefix, e.g. `admin`. */
  orgRole: string | null;
  orgPermissions: string[];
  roles: Role[];
  /** The impersonating user (`act.sub`) when the session is an impersonation. */
  impersonatorId: string | null;
  issuedAt: Date | null;
  expiresAt: Date | null;
}

export const isAuditor = (p: Principal | null | undefined): boolean =>
  !!p && (p.roles.includes('AUDITOR') || p.roles.includes('ADMIN'));
export const isAdmin = (p: Principal | null | undefined): boolean => !!p && p.roles.includes('ADMIN');
