-- Jobs, their append-only audit trail, and idempotency keys.

CREATE TABLE jobs (
  seq          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id           uuid PRIMARY KEY,
  owner_id     text NOT NULL,
  title        text NOT NULL,
  urs_document text NOT NULL,
  status       text NOT NULL CHECK (status IN ('PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  result       jsonb,
  error        text,
  attempts     integer NOT NULL DEFAULT 0,
  claimed_by   text,
  claimed_at   timestamptz,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);

-- Keyset pagination: every list is "WHERE <filter> AND seq < $cursor ORDER BY seq DESC LIMIT n",
-- so each filter has an index ending in seq and a page costs the same at any depth.
CREATE INDEX jobs_owner_seq ON jobs (owner_id, seq DESC);
CREATE INDEX jobs_owner_status_seq ON jobs (owner_id, status, seq DESC);
CREATE INDEX jobs_status_seq ON jobs (status, seq DESC);
-- The worker's queue: only PENDING rows, oldest first.
CREATE INDEX jobs_pending_queue ON jobs (seq) WHERE status = 'PENDING';

CREATE TABLE audit_events (
  seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id              uuid NOT NULL UNIQUE,
  -- Events form one hash chain per stream (a job's events, or one actor's job-less events);
  -- stream_seq is the position in that chain and the unique key makes a fork impossible.
  stream          text NOT NULL,
  stream_seq      integer NOT NULL,
  action          text NOT NULL,
  occurred_at     timestamptz NOT NULL,
  actor_id        text NOT NULL,
  actor_email     text,
  session_id      text,
  token_iat       timestamptz,
  impersonator_id text,
  job_id          uuid,
  reason          text,
  before          jsonb,
  after           jsonb,
  request_id      text,
  ip              text,
  user_agent      text,
  -- The exact bytes that were hashed; verification re-hashes this text, never a re-serialisation.
  canonical       text NOT NULL,
  hash            text NOT NULL,
  prev_hash       text,
  UNIQUE (stream, stream_seq)
);
CREATE INDEX audit_events_job_seq ON audit_events (job_id, seq) WHERE job_id IS NOT NULL;
CREATE INDEX audit_events_actor_seq ON audit_events (actor_id, seq);
CREATE INDEX audit_events_action_seq ON audit_events (action, seq);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at, seq);

-- Append-only, enforced by the database for every role: row triggers for UPDATE/DELETE, a
-- statement trigger for TRUNCATE, and ENABLE ALWAYS so that session_replication_role = replica
-- (which silences ordinary triggers) does not switch them off.
CREATE FUNCTION audit_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
    USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_reject_change();
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_update_delete;
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;

CREATE TABLE idempotency_keys (
  owner_id     text NOT NULL,
  key          text NOT NULL,
  request_hash text NOT NULL,
  job_id       uuid NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (owner_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- A job's identity and document never change after submission, and its status only moves
-- along PENDING -> RUNNING -> COMPLETED | FAILED, with CANCELLED from PENDING or RUNNING.
-- Enforced here as well as in the service, so no code path or race can write anything else.
CREATE FUNCTION jobs_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.owner_id <> OLD.owner_id OR NEW.title <> OLD.title
     OR NEW.urs_document <> OLD.urs_document OR NEW.created_at <> OLD.created_at THEN
    RAISE EXCEPTION 'jobs: id, owner, title, document and creation time are immutable' USING ERRCODE = '42501';
  END IF;
  IF NEW.status <> OLD.status AND NOT (
       (OLD.status = 'PENDING' AND NEW.status IN ('RUNNING', 'CANCELLED'))
    OR (OLD.status = 'RUNNING' AND NEW.status IN ('COMPLETED', 'FAILED', 'CANCELLED'))) THEN
    RAISE EXCEPTION 'jobs: illegal status transition % -> %', OLD.status, NEW.status USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER jobs_guard_update BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_guard_update();
CREATE FUNCTION jobs_reject_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'jobs are never deleted: their audit trail refers to them' USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER jobs_no_delete BEFORE DELETE ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_reject_delete();
