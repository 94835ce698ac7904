-- Rate-limit counters shared by every instance on PostgreSQL (src/transport/rateLimits.ts):
-- rate-limiter-flexible's RateLimiterPostgres table, in exactly the shape it would create itself
-- (it is told `tableCreated`, so it never runs DDL at request time). One row per key and window:
-- `points` used, `expire` the window's end in epoch milliseconds; expired rows are deleted
-- periodically. The embedded store counts in memory and leaves this table empty.
--
-- UNLOGGED: counters for the current minute are not worth a WAL write and an fsync per update,
-- and after a crash PostgreSQL empties the table, which only resets the current windows.
CREATE UNLOGGED TABLE rate_limits (
  key    varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
