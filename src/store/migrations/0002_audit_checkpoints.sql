-- Signed checkpoints over the audit trail. Per-stream hash chains catch edits, deletions and
-- reordering inside a stream, but not a deleted tail or a whole deleted stream: a checkpoint
-- seals every event up to `upto_seq` with a running digest, a count and the list of sequence
-- numbers that were never used (rolled-back inserts), and is signed with an Ed25519 key the
-- database does not hold. See src/audit/checkpoint.ts.

CREATE TABLE audit_checkpoints (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  upto_seq     bigint NOT NULL UNIQUE CHECK (upto_seq > 0),
  -- Events with seq <= upto_seq.
  event_count  bigint NOT NULL CHECK (event_count >= 0),
  -- sha256 hex of prev_digest || the hashes of the events in (previous upto_seq, upto_seq], in seq order.
  digest       text NOT NULL UNIQUE,
  prev_digest  text,
  -- Sequence numbers in (previous upto_seq, upto_seq] that no event holds; NULL when there were
  -- too many to list (verification then falls back to the count).
  missing_seqs bigint[],
  created_at   timestamptz NOT NULL,
  key_id       text NOT NULL,
  signature    text NOT NULL
);
-- One successor per checkpoint and one first checkpoint: two checkpointers racing (several
-- instances) cannot fork the chain; the loser's insert fails and it simply skips.
CREATE UNIQUE INDEX audit_checkpoints_one_successor ON audit_checkpoints (prev_digest);
CREATE UNIQUE INDEX audit_checkpoints_one_first ON audit_checkpoints ((prev_digest IS NULL)) WHERE prev_digest IS NULL;

CREATE FUNCTION audit_checkpoints_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoints is append-only: % is not allowed', TG_OP
    USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_reject_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_reject_change();
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_update_delete;
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;

-- A safe boundary for the next checkpoint. SHARE mode conflicts with the ROW EXCLUSIVE lock every
-- inserting transaction holds until it ends, and identity values are drawn while holding it, so
-- once the lock is granted no transaction that drew a seq is still open: every seq <= max(seq)
-- that will ever exist is committed. max(seq) runs as its own statement after the lock, so its
-- snapshot is taken after the wait. SECURITY DEFINER because LOCK ... SHARE needs UPDATE, DELETE
-- or TRUNCATE on the table, which the application role should not have (INSERT and SELECT only).
-- The lock is held until the caller's transaction ends (callers commit right after), so a role
-- that may call this can stall audit writers: EXECUTE is not granted to PUBLIC. The owner (the
-- role that runs migrations) has it; grant it to the application role when that is another role.
CREATE FUNCTION audit_checkpoint_boundary(OUT upto_seq bigint, OUT taken_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
  LOCK TABLE audit_events IN SHARE MODE;
  SELECT coalesce(max(e.seq), 0) INTO upto_seq FROM audit_events e;
  taken_at := date_trunc('milliseconds', clock_timestamp());
END
$$;
REVOKE ALL ON FUNCTION audit_checkpoint_boundary() FROM PUBLIC;
