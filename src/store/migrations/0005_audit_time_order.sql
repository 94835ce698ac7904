-- auditEvents pages in database-time order (occurred_at, then seq): a time range combined with
-- any filter is then one index range, and a page costs the same at any table size. Ordering by
-- seq alone could not use an index for "from" or "to": rows of a late time range sat at the end
-- of the seq index and a page read most of the table to reach them.
DROP INDEX audit_events_job_seq;
DROP INDEX audit_events_actor_seq;
DROP INDEX audit_events_action_seq;
CREATE INDEX audit_events_job_time ON audit_events (job_id, occurred_at, seq) WHERE job_id IS NOT NULL;
CREATE INDEX audit_events_actor_time ON audit_events (actor_id, occurred_at, seq);
CREATE INDEX audit_events_action_time ON audit_events (action, occurred_at, seq);
-- audit_events_occurred (occurred_at, seq) from 0001 serves the unfiltered list.
