import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What a scrape reads from the store at that moment (the endpoint gathers it; see transport/metricsEndpoint.ts). */
export interface StoreSnapshot {
  jobs: { pending: number; running: number; oldestPendingAgeSeconds: number | null };
  /** Connections of the process's pool; null where there is no pool to report. */
  pool: { total: number; idle: number; waiting: number } | null;
  listen: { connected: boolean; reconnects: number };
}

/** At most this many distinct operation names become label values; later ones count as `other`. */
export const MAX_OPERATION_LABELS = 100;
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

/**
 * The process's Prometheus metrics. Off until `enable()` (METRICS_PORT set): until then every
 * recording call returns at once, so an instance without metrics pays a branch per call.
 * Process-wide, like the process metrics prom-client adds (event-loop lag, memory, GC): a
 * process is what Prometheus scrapes.
 */
export class Metrics {
  readonly registry = new Registry();
  private on = false;
  private readonly operations = new Set<string>();

  private readonly requestDuration = new Histogram({
    name: 'jobledger_http_request_duration_seconds',
    help: 'HTTP requests by route, GraphQL operation name and outcome (ok, an error code, or http_<status>)',
    labelNames: ['route', 'operation', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly authFailures = new Counter({
    name: 'jobledger_auth_failures_total',
    help: 'Refused tokens by reason (HTTP and WebSocket)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly rateLimitedRequests = new Counter({
    name: 'jobledger_rate_limited_total',
    help: 'Requests refused by a rate limit, by limit',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly workerJobs = new Counter({
    name: 'jobledger_worker_jobs_total',
    help: 'Jobs the worker finished, by outcome (completed, failed, abandoned, superseded)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly workerErrors = new Counter({
    name: 'jobledger_worker_errors_total',
    help: 'Worker loop errors (the loop retries after WORKER_POLL_MS)',
    registers: [this.registry],
  });
  private readonly auditAppend = new Histogram({
    name: 'jobledger_audit_append_duration_seconds',
    help: 'Time to append one audit event inside its transaction (chain head read, lock, insert)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly jobsPending = gauge(this.registry, 'jobledger_jobs_pending', 'Jobs waiting for a worker (read from the store at scrape time)');
  private readonly jobsRunning = gauge(this.registry, 'jobledger_jobs_running', 'Jobs a worker holds (read from the store at scrape time)');
  private readonly oldestPending = gauge(this.registry, 'jobledger_jobs_oldest_pending_age_seconds', 'Age of the oldest PENDING job; 0 when none waits');
  private readonly pool = new Gauge({
    name: 'jobledger_db_pool_connections',
    help: 'Database pool: total and idle connections, and queries waiting for one (embedded store: its one connection)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly listenConnected = gauge(this.registry, 'jobledger_listen_connected', '1 while the LISTEN connection receives notifications (embedded store: always 1)');
  private readonly listenReconnects = gauge(this.registry, 'jobledger_listen_reconnects', 'Times the LISTEN connection came back since the process started');

  get enabled(): boolean {
    return this.on;
  }

  /** Starts collecting (and the process metrics with it); idempotent. */
  enable(): void {
    if (this.on) return;
    this.on = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * One finished HTTP request. `operation`: the GraphQL operation's name, null for an anonymous
   * one, undefined when no operation was resolved (`none`: other routes, requests refused first).
   */
  request(route: string, operation: string | null | undefined, outcome: string, seconds: number): void {
    if (!this.on) return;
    this.requestDuration.observe({ route, operation: this.operationLabel(operation), outcome }, seconds);
  }

  authFailure(reason: string): void {
    if (this.on) this.authFailures.inc({ reason });
  }

  /** A request refused by a rate limit; `kind` names the limit (e.g. `request`, `failed-token`). */
  rateLimited(kind: string): void {
    if (this.on) this.rateLimitedRequests.inc({ kind });
  }

  workerOutcome(outcome: 'completed' | 'failed' | 'abandoned' | 'superseded', n = 1): void {
    if (this.on && n > 0) this.workerJobs.inc({ outcome }, n);
  }

  workerError(): void {
    if (this.on) this.workerErrors.inc();
  }

  auditAppended(seconds: number): void {
    if (this.on) this.auditAppend.observe(seconds);
  }

  /** The exposition text, with the store's gauges set from `store` first. */
  async render(store: StoreSnapshot | null): Promise<string> {
    if (store) {
      this.jobsPending.set(store.jobs.pending);
      this.jobsRunning.set(store.jobs.running);
      this.oldestPending.set(store.jobs.oldestPendingAgeSeconds ?? 0);
      if (store.pool) for (const [state, n] of Object.entries(store.pool)) this.pool.set({ state }, n);
      this.listenConnected.set(store.listen.connected ? 1 : 0);
      this.listenReconnects.set(store.listen.reconnects);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Clients choose operation names, so each is a label value only while fewer than
   * MAX_OPERATION_LABELS are known: a client sending random names cannot grow the series
   * without bound. With TRUSTED_DOCUMENTS the manifest bounds them anyway.
   */
  private operationLabel(name: string | null | undefined): string {
    if (name === undefined) return 'none';
    if (!name) return 'anonymous';
    if (this.operations.has(name)) return name;
    if (this.operations.size >= MAX_OPERATION_LABELS || !OPERATION_NAME.test(name)) return 'other';
    this.operations.add(name);
    return name;
  }
}

function gauge(registry: Registry, name: string, help: string): Gauge {
  return new Gauge({ name, help, registers: [registry] });
}

export const metrics = new Metrics();
