-- Organization claims (o.id, o.rol) come from the token, which stays valid for up to 60 s after a
-- member is removed, their role changes or the organization is deleted. Clerk's webhooks record
-- the moment here; a token naming that organization and issued before it is refused (see
-- auth/sessionGate.ts), so the holder fetches a fresh one that says what is true now.
CREATE TABLE org_membership_changes (
  org_id     text NOT NULL,
  -- '' stands for every member: the organization itself was deleted.
  user_id    text NOT NULL,
  -- The latest change: only it matters, a token issued after it is current.
  changed_at timestamptz NOT NULL,
  -- The svix-id of the webhook delivery that recorded it.
  event_id   text NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
