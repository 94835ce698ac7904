-- The jobs guards (immutable identity and document, legal status transitions only, no delete)
-- fire even under session_replication_role = replica, like the audit triggers: a job's state is
-- part of what the audit trail vouches for.
ALTER TABLE jobs ENABLE ALWAYS TRIGGER jobs_guard_update;
ALTER TABLE jobs ENABLE ALWAYS TRIGGER jobs_no_delete;
