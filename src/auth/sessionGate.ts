import type { Database, SqlClient } from '../store/database';
import { AuthFailure, AuthReason } from './errors';
import type { Principal } from './principal';
import type { SessionGate } from './verify';

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
 * Revocations are announced on this channel when their webhook's transaction commits (payload:
 * {"session": id} or {"user": id}), so every instance applies them at once; the TTL above is the
 * fallback for an instance whose LISTEN connection was down at that moment.
 */
export const REVOCATION_CHANNEL = 'jobledger_access_revoked';

export type RevocationNotice = { session: string } | { user: string };

/**
 * The revocation list and blocked users, read from the tables Clerk's webhooks fill.
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
  private readonly ttlMs: number;
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
    if (this.fresh(uid, sid)) return this.decide(uid, sid);
    // Concurrent requests of one client share one query (single-flight per user+session).
    const key = `${uid}\u0000${sid ?? ''}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.load(uid, sid).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    await pending;
    this.decide(uid, sid);
  }

  /** Applies revocations announced by any instance (REVOCATION_CHANNEL); resolves to a function that stops. */
  async follow(db: Database, onBadNotice?: (payload: string) => void): Promise<() => Promise<void>> {
    return db.listen(REVOCATION_CHANNEL, (payload) => {
      let notice: Partial<{ session: unknown; user: unknown }>;
      try {
        notice = JSON.parse(payload) as typeof notice;
      } catch {
        notice = {};
      }
      if (typeof notice.session === 'string' && notice.session) this.markRevoked(notice.session);
      else if (typeof notice.user === 'string' && notice.user) this.markBlocked(notice.user);
      else onBadNotice?.(payload);
    });
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
      `SELECT EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $1) AS revoked,
              EXISTS (SELECT 1 FROM blocked_users WHERE user_id = $2) AS blocked`,
      [sid ?? '', uid],
    );
    const row = res.rows[0];
    const until = this.now() + this.ttlMs;
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
