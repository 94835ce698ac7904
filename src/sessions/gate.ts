import { prepared, type Database, type SqlClient } from '../store/database';
import { AuthFailure, AuthReason } from '../auth/errors';
import type { Principal } from '../auth/principal';
import type { SessionGate } from '../auth/verify';

const SESSION_STATE = prepared(`SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $1) AS revoked,
  EXISTS (SELECT 1 FROM blocked_users WHERE user_id = $2) AS blocked`);

export interface DatabaseSessionGateOptions {
  /**
   * How long "this session / user is still active" is believed without asking the database.
   * It bounds how late another instance notices a revocation received by a different instance:
   * at most this long after the webhook's transaction commits. The instance that receives the
   * webhook sees it at once (markRevoked / markBlocked).
   */
  activeTtlMs?: number;
  /** Bound on cached ids per map; the oldest are dropped first (and asked again on next use). */
  maxEntries?: number;
  now?: () => number;
}

export const DEFAULT_ACTIVE_TTL_MS = 5_000;
/**
 * While the LISTEN connection is down no notice arrives, so the cache is all that bounds a missed
 * revocation: a longer configured TTL (trusting the notices) is cut to this for that time.
 */
export const DISCONNECTED_TTL_MS = DEFAULT_ACTIVE_TTL_MS;

/**
 * Revocations are announced on this channel when their webhook's transaction commits (payload:
 * {"session": id} or {"user": id}), so every instance applies them at once; the TTL above is the
 * fallback for an instance whose LISTEN connection was down at that moment.
 */
export const REVOCATION_CHANNEL = 'jobledger_access_revoked';

export type RevocationNotice =
  | { session: string }
  | { user: string }
  /** A membership changed (or, with user '', the organization was deleted) at `at` (ms since the epoch). */
  | { org: string; user: string; at: number };

/**
 * The revocation list, blocked users and organization membership changes, read from the tables
 * Clerk's webhooks fill.
 * Revoked and blocked are final (Clerk never reuses a session or user id), so they are cached
 * without expiry; "active" is cached for `activeTtlMs` only. A database failure is not cached
 * and fails the request closed.
 */
export class DatabaseSessionGate implements SessionGate {
  private readonly sessions = new Map<string, number>(); // session id -> active until (Infinity = revoked)
  private readonly users = new Map<string, number>(); // user id -> active until (Infinity = blocked)
  private readonly revoked = new Set<string>();
  private readonly blocked = new Set<string>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** `${org}\0${user}` -> the latest change to that membership, or to the whole organization (ms; -Infinity: none), and until when it is believed. */
  private readonly orgChanges = new Map<string, { at: number; until: number }>();
  /** Organization-wide changes (deleted organizations) announced while running: they reach every member's entry. */
  private readonly orgWide = new Map<string, number>();
  private readonly ttlMs: number;
  private noticesArrive = true;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly db: SqlClient, opts: DatabaseSessionGateOptions = {}) {
    this.ttlMs = opts.activeTtlMs ?? DEFAULT_ACTIVE_TTL_MS;
    this.maxEntries = opts.maxEntries ?? 50_000;
    this.now = opts.now ?? Date.now;
  }

  async assertActive(principal: Principal): Promise<void> {
    const sid = principal.sessionId;
    const uid = principal.userId;
    if (!this.fresh(uid, sid)) {
      // Concurrent requests of one client share one query (single-flight per user+session).
      await this.singleFlight(`${uid}\u0000${sid ?? ''}`, () => this.load(uid, sid));
    }
    this.decide(uid, sid);
    if (principal.orgId !== null) await this.assertOrgCurrent(principal, principal.orgId);
  }

  /**
   * A token naming an organization must be newer than the last change to the holder's membership
   * there (removed, role changed, organization deleted). `iat` has whole seconds: a token issued
   * in the same second as the change is refused too, and the next one a second later is not.
   */
  private async assertOrgCurrent(principal: Principal, org: string): Promise<void> {
    const key = `${org}\u0000${principal.userId}`;
    const cached = this.orgChanges.get(key);
    if (!cached || cached.until <= this.now()) await this.singleFlight(`org\u0000${key}`, () => this.loadOrg(org, principal.userId));
    const at = Math.max(this.orgChanges.get(key)?.at ?? -Infinity, this.orgWide.get(org) ?? -Infinity);
    if (at === -Infinity) return;
    if (principal.issuedAt === null || principal.issuedAt.getTime() < at) throw new AuthFailure(AuthReason.orgMembershipChanged);
  }

  private async singleFlight(key: string, load: () => Promise<void>): Promise<void> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = load().finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    await pending;
  }

  private async loadOrg(org: string, uid: string): Promise<void> {
    const res = await this.db.query<{ at: Date | null }>(
      `SELECT max(changed_at) AS at FROM org_membership_changes WHERE org_id = $1 AND user_id IN ($2, '')`,
      [org, uid],
    );
    const at = res.rows[0]?.at ? new Date(res.rows[0].at).getTime() : -Infinity;
    this.markOrgChanged(org, uid, at, this.now() + this.activeTtl());
  }

  /** A membership (user '' : every member) changed at `at`: tokens for that organization issued before it are refused. */
  markOrgChanged(org: string, uid: string, at: number, until?: number): void {
    if (uid === '') {
      this.orgWide.set(org, Math.max(this.orgWide.get(org) ?? -Infinity, at));
      if (this.orgWide.size > this.maxEntries) this.orgWide.delete(this.orgWide.keys().next().value!);
      return;
    }
    const key = `${org}\u0000${uid}`;
    const prev = this.orgChanges.get(key);
    this.orgChanges.delete(key);
    if (this.orgChanges.size >= this.maxEntries) this.orgChanges.delete(this.orgChanges.keys().next().value!);
    // A change time only ever moves forward; a notice keeps the entry's believed-until time.
    this.orgChanges.set(key, { at: Math.max(prev?.at ?? -Infinity, at), until: until ?? prev?.until ?? 0 });
  }

  private activeTtl(): number {
    return this.noticesArrive ? this.ttlMs : Math.min(this.ttlMs, DISCONNECTED_TTL_MS);
  }

  /**
   * The LISTEN connection went down or came back. Either way every cached "still active" answer
   * is dropped: while down, answers cached on the strength of notices are no longer backed by
   * them; once back, notices sent during the gap were lost. Final states (revoked, blocked) stay.
   */
  noticesConnected(connected: boolean): void {
    this.noticesArrive = connected;
    for (const map of [this.sessions, this.users]) for (const [id, until] of map) if (until !== Infinity) map.delete(id);
    this.orgChanges.clear(); // org change times are re-read: at most one query per member
  }

  /** Applies revocations announced by any instance (REVOCATION_CHANNEL); resolves to a function that stops. */
  async follow(db: Database, onBadNotice?: (payload: string) => void): Promise<() => Promise<void>> {
    const unwatch = db.watchListen((state) => this.noticesConnected(state.connected));
    const unlisten = await db.listen(REVOCATION_CHANNEL, (payload) => {
      let notice: Partial<{ session: unknown; user: unknown; org: unknown; at: unknown }>;
      try {
        notice = JSON.parse(payload) as typeof notice;
      } catch {
        notice = {};
      }
      if (typeof notice.org === 'string' && notice.org && typeof notice.user === 'string' && Number.isFinite(notice.at)) {
        this.markOrgChanged(notice.org, notice.user, notice.at as number);
      } else if (typeof notice.session === 'string' && notice.session) this.markRevoked(notice.session);
      else if (typeof notice.user === 'string' && notice.user) this.markBlocked(notice.user);
      else onBadNotice?.(payload);
    });
    return async () => {
      unwatch();
      await unlisten();
    };
  }

  /** This instance received the revocation: effective immediately here. */
  markRevoked(sessionId: string): void {
    this.remember(this.sessions, this.revoked, sessionId, Infinity);
    this.revoked.add(sessionId);
  }

  markBlocked(userId: string): void {
    this.remember(this.users, this.blocked, userId, Infinity);
    this.blocked.add(userId);
  }

  private fresh(uid: string, sid: string | null): boolean {
    const t = this.now();
    return (this.users.get(uid) ?? 0) > t && (sid === null || (this.sessions.get(sid) ?? 0) > t);
  }

  private decide(uid: string, sid: string | null): void {
    // A blocked user outranks a revoked session: it is the more complete explanation.
    if (this.blocked.has(uid)) throw new AuthFailure(AuthReason.userBlocked);
    if (sid !== null && this.revoked.has(sid)) throw new AuthFailure(AuthReason.sessionRevoked);
  }

  private async load(uid: string, sid: string | null): Promise<void> {
    const res = await this.db.query<{ revoked: boolean; blocked: boolean }>(
      SESSION_STATE,
      [sid ?? '', uid],
    );
    const row = res.rows[0];
    const until = this.now() + this.activeTtl();
    if (row?.blocked) this.markBlocked(uid);
    else this.remember(this.users, this.blocked, uid, until);
    if (sid !== null) {
      if (row?.revoked) this.markRevoked(sid);
      else this.remember(this.sessions, this.revoked, sid, until);
    }
  }

  private remember(map: Map<string, number>, final: Set<string>, id: string, until: number): void {
    if (map.get(id) === Infinity) return; // final states never go back to active
    map.delete(id); // re-insert so Map order stays oldest-first for eviction
    if (map.size >= this.maxEntries) {
      const oldest = map.keys().next().value!;
      map.delete(oldest);
      final.delete(oldest);
    }
    map.set(id, until);
  }
}
