import { useEffect, useState } from 'react';
import { describeError } from './errors';
import { useSession } from './session';

/** One error, said plainly; 401 offers sign-in, 429 counts down the server's Retry-After. */
export function ErrorBanner({ error }: { error: unknown }) {
  const session = useSession();
  const d = describeError(error);
  const [left, setLeft] = useState(d.retryAfter);
  useEffect(() => {
    setLeft(d.retryAfter);
    if (d.retryAfter === undefined) return;
    const started = Date.now();
    const t = setInterval(() => setLeft(Math.max(0, d.retryAfter! - Math.floor((Date.now() - started) / 1000))), 1000);
    return () => clearInterval(t);
  }, [error, d.retryAfter]);
  return (
    <div className="error" role="alert" data-testid={d.signIn ? 'signed-out' : 'error'} data-code={d.code}>
      <strong>{d.message}</strong>
      {d.code === 'RATE_LIMITED' && left !== undefined && <span data-testid="retry-after"> ({left > 0 ? `${left} s left` : 'you can retry now'})</span>}
      {d.requestId && <small> Request id: {d.requestId}</small>}
      {d.signIn && (
        <button type="button" onClick={() => session.signOut()}>
          Sign in again
        </button>
      )}
    </div>
  );
}
