import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { queueStats } from '../jobs/queueStats';
import type { Logger } from '../log';
import { metrics, type StoreSnapshot } from '../metrics';
import type { Database } from '../store/database';

export interface MetricsEndpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics (Prometheus text format) on a listener of its own, METRICS_HOST:METRICS_PORT,
 * so that the balancer in front of PORT never exposes it. Turns the metrics on. The job queue,
 * the pool and the LISTEN connection are read at scrape time; a store that cannot be read
 * leaves the queue gauges NaN for that scrape, and everything else is still served.
 */
export async function startMetricsEndpoint(where: { host: string; port: number }, db: Database, log: Logger): Promise<MetricsEndpoint> {
  metrics.enable();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found. Metrics are at GET /metrics.\n');
      return;
    }
    void snapshot(db, log)
      .then((store) => metrics.render(store))
      .then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => {
          log.error('metrics scrape failed', { err });
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('The metrics could not be collected; see the server log.\n');
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = where.host.includes(':') ? `[${where.host}]` : where.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // a scraper's keep-alive connection would hold the close
      }),
  };
}

async function snapshot(db: Database, log: Logger): Promise<StoreSnapshot> {
  const listen = db.listenState();
  const jobs = await queueStats(db).catch((err: unknown) => {
    log.warn('metrics: the job queue could not be read', { err });
    return { pending: NaN, running: NaN, oldestPendingAgeSeconds: NaN };
  });
  return { jobs, pool: db.poolStats(), listen: { connected: listen.connected, reconnects: listen.reconnects } };
}
