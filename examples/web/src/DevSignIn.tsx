import { useState, type FormEvent } from 'react';
import type { DevProfile } from './devSession';

/** Development only: pick who to be; tokens come from the server's development issuer. */
export function DevSignIn({ onSignIn, problem }: { onSignIn(p: DevProfile): void; problem?: string }) {
  const [p, setP] = useState<DevProfile>({ userId: '', email: '', role: '', ttlSeconds: 60 });
  function submit(e: FormEvent) {
    e.preventDefault();
    onSignIn(p);
  }
  return (
    <main className="signin">
      <h1>jobledger</h1>
      <p>
        Development sign-in: tokens from the server's local development issuer. With
        <code> VITE_CLERK_PUBLISHABLE_KEY</code> set, Clerk's sign-in appears here instead.
      </p>
      <form onSubmit={submit} className="stack" data-testid="dev-signin">
        <label>
          User id
          <input data-testid="user-id" value={p.userId} onChange={(e) => setP({ ...p, userId: e.target.value })} required pattern="[\w.:@\-]{1,100}" placeholder="user_alice" />
        </label>
        <label>
          Email (optional)
          <input data-testid="email" type="email" value={p.email} onChange={(e) => setP({ ...p, email: e.target.value })} />
        </label>
        <label>
          Role
          <select data-testid="role" value={p.role} onChange={(e) => setP({ ...p, role: e.target.value as DevProfile['role'] })}>
            <option value="">user</option>
            <option value="auditor">auditor</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <label>
          Token lifetime (seconds; Clerk's is 60)
          <input data-testid="ttl" type="number" min={10} max={3600} value={p.ttlSeconds} onChange={(e) => setP({ ...p, ttlSeconds: Number(e.target.value) })} />
        </label>
        {problem && <div className="error" role="alert" data-testid="signin-problem">{problem}</div>}
        <button type="submit" data-testid="sign-in">Sign in</button>
      </form>
    </main>
  );
}
