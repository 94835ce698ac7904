-- Access that ends before a token does: Clerk session tokens stay valid for up to 60 s after a
-- sign-out or revocation, and a deleted user's last token too. Clerk's webhooks fill these
-- tables; every token verification consults them (through a short cache, see auth/sessionGate.ts).

CREATE TABLE revoked_sessions (
  session_id text PRIMARY KEY,
  revoked_at timestamptz NOT NULL,
  -- The svix-id of the webhook delivery that revoked it (attribution, and a join to webhook_events).
  event_id   text NOT NULL
);

-- A deleted user is blocked, never erased: their jobs and audit events stay (audit data is never deleted).
CREATE TABLE blocked_users (
  user_id    text PRIMARY KEY,
  blocked_at timestamptz NOT NULL,
  event_id   text NOT NULL
);

-- Every verified webhook delivery, keyed by svix-id: Svix retries and an attacker may replay a
-- captured delivery within its 5-minute signature window, so a second delivery must do nothing.
CREATE TABLE webhook_events (
  svix_id     text PRIMARY KEY,
  type        text NOT NULL,
  received_at timestamptz NOT NULL
);
