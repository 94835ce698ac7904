-- Which trail this is. The external checkpoint journal (DATA_DIR/audit) lives outside the
-- database, and one DATA_DIR may serve several databases in turn: its entries are tagged with
-- this id, one journal file per trail, so that verify compares a trail only with its own
-- checkpoints and can say plainly when a journal belongs to another trail.
--
-- The row is created with the trail's first checkpoint (src/audit/identity.ts), not here: a
-- database cloned from an empty migrated template (CREATE DATABASE ... TEMPLATE) is a new trail
-- and must get an identity of its own. A trail that already has events gets its identity now.
CREATE TABLE audit_trail (
  id         uuid PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- At most one row: a database holds one trail.
  one_row    boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row)
);

INSERT INTO audit_trail (id)
SELECT gen_random_uuid() WHERE EXISTS (SELECT 1 FROM audit_events) OR EXISTS (SELECT 1 FROM audit_checkpoints);

-- Append-only like the trail itself: an identity changed afterwards would orphan its journal.
CREATE FUNCTION audit_trail_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_trail is append-only: % is not allowed', TG_OP
    USING ERRCODE = '42501';
END
$$;
CREATE TRIGGER audit_trail_no_update_delete BEFORE UPDATE OR DELETE ON audit_trail
  FOR EACH ROW EXECUTE FUNCTION audit_trail_reject_change();
CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
  FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_reject_change();
ALTER TABLE audit_trail ENABLE ALWAYS TRIGGER audit_trail_no_update_delete;
ALTER TABLE audit_trail ENABLE ALWAYS TRIGGER audit_trail_no_truncate;
