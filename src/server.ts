import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault, ApolloServerPluginLandingPageProductionDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DatabaseSessionGate } from './auth/sessionGate';
import { startCheckpointer, type Checkpointer } from './audit/checkpoint';
import { loadCheckpointSigner } from './audit/checkpointKey';
import { createAuth, type AuthSetup } from './auth/setup';
import type { Config } from './config';
import { createContext, type GraphQLContext, type Services } from './context';
import { AppError, ErrorCode } from './errors';
import { errorStatusPlugin, formatError } from './graphql/errors';
import { buildSchema } from './graphql/schema';
import { TrustedDocuments } from './graphql/trustedDocuments';
import { JobsService } from './jobs/service';
import { startWorker, type Worker } from './jobs/worker';
import { createLogger, type Logger } from './log';
import type { Database } from './store/database';
import { openMigratedDatabase } from './store/open';
import { authenticateHttp, FixedWindowLimiter, rateLimit, sendError } from './transport/http';
import { cors } from './transport/cors';
import { devTokenRoute } from './transport/devToken';
import { JobEvents } from './transport/jobEvents';
import { attachWebSocket } from './transport/ws';
import { clerkWebhooks } from './transport/webhooks';

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  db: Database;
  jobs: JobsService;
  auth: AuthSetup;
  worker: Worker | null;
  checkpointer: Checkpointer;
  log: Logger;
  stop(): Promise<void>;
}

export interface ServerDeps {
  /** An already-open, migrated database (tests share one); otherwise opened from config. */
  db?: Database;
  log?: Logger;
}

/** Starts everything on one HTTP server: GraphQL over HTTP and WebSocket, health, webhooks. */
export async function startServer(config: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  const log = deps.log ?? createLogger(config.logLevel);
  const db = deps.db ?? (await openMigratedDatabase(config, log));
  const sessionGate = new DatabaseSessionGate(db, { activeTtlMs: config.auth.sessionCheckCacheMs });
  const stopFollowing = await sessionGate.follow(db, (payload) => log.warn('ignored a malformed revocation notice', { length: payload.length }));
  const auth = createAuth(config, log, sessionGate);
  const jobs = new JobsService(db);
  const services: Services = { db, jobs };
  const jobEvents = new JobEvents(db, jobs);
  await jobEvents.start();
  const schema = buildSchema(jobEvents);
  const trusted = TrustedDocuments.fromConfig(config);

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  const httpServer = http.createServer(app);

  const armor = new ApolloArmor({
    // Flattened: Apollo Client colocates fragments, and counting each spread as a level (or a
    // cost multiplier) refused ordinary fragment queries that pass when written inline.
    maxDepth: { n: 8, flattenFragments: true },
    maxAliases: { n: 15 },
    maxDirectives: { n: 50 },
    // armor's token limit is an Apollo plugin that re-parses in parsingDidStart and throws, which
    // Apollo answers as 500 for every syntax error (graphql-armor#571, #751). graphql-js enforces
    // the same limit during Apollo's own parse (parseOptions below) and fails it as a 400.
    maxTokens: { enabled: false },
    // No cost rule: it multiplies by a literal `first` but not by a variable, so the same
    // request passed or failed depending on how it was written, and it refused ordinary
    // `jobs(first: 100)` pages. The schema has no recursive types, `first` is capped at 100
    // (BAD_USER_INPUT), and depth, aliases, directives and tokens are limited: that bounds work.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();
  const format = formatError(log);
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    introspection: !config.production,
    hideSchemaDetailsFromClientErrors: config.production,
    includeStacktraceInErrorResponses: false,
    parseOptions: { maxTokens: 1000 },
    csrfPrevention: true,
    persistedQueries: config.graphql.apqEnabled ? undefined : false,
    allowBatchedHttpRequests: false,
    // The process's signals are handled once, by the CLI, which stops everything in order
    // (RunningServer.stop). Apollo's own handler stopped it a second time, concurrently, and the
    // two stops never finished: `npm start` hung on Ctrl-C.
    stopOnTerminationSignals: false,
    formatError: format,
    validationRules: armor.validationRules,
    plugins: [
      ...armor.plugins,
      errorStatusPlugin(),
      ApolloServerPluginDrainHttpServer({ httpServer }),
      config.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }),
    ],
  });
  await apollo.start();

  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.header('x-request-id');
    req.requestId = given && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', req.requestId);
    next();
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await db.query('SELECT 1');
      res.json({ status: 'ready', storage: db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    }
  });
  const devToken = devTokenRoute(config, auth);
  if (devToken) app.use('/dev/token', cors(config), devToken);
  app.use('/webhooks/clerk', clerkWebhooks({ config, db, gate: sessionGate, log }));
  app.use(
    '/graphql',
    cors(config),
    express.json({ limit: config.maxBodyBytes }),
    trusted.middleware(),
    authenticateHttp(auth.verifier, log, new FixedWindowLimiter(config.rateLimitPerMinute)),
    rateLimit(new FixedWindowLimiter(config.rateLimitPerMinute)),
    expressMiddleware(apollo, {
      context: async ({ req }) =>
        createContext(services, req.principal ?? null, {
          requestId: req.requestId,
          ip: req.socket.remoteAddress ?? null,
          userAgent: req.header('user-agent') ?? null,
        }),
    }),
  );
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') {
      res.status(413).json({
        errors: [{ message: `The request body is larger than ${config.maxBodyBytes} bytes.`, extensions: { code: 'BAD_REQUEST', requestId: req.requestId } }],
      });
      return;
    }
    if (type === 'entity.parse.failed' || type === 'encoding.unsupported' || type === 'charset.unsupported') {
      res.status(400).json({
        errors: [{ message: 'The request body is not valid JSON. Send {"query": "...", "variables": {...}}.', extensions: { code: 'BAD_REQUEST', requestId: req.requestId } }],
      });
      return;
    }
    log.error('unhandled HTTP error', { requestId: req.requestId, error: (err as Error)?.message });
    sendError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Something went wrong on our side. Retry; if it keeps happening, report the requestId.'), req.requestId);
  });

  const ws = attachWebSocket(httpServer, {
    schema,
    services,
    verifier: auth.verifier,
    log,
    validationRules: armor.validationRules,
    clockSkewMs: config.auth.clockSkewMs,
    trusted,
    formatError: (e) => format(e.toJSON(), e),
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  const worker = config.worker.enabled ? await startWorker(db, jobs, log, config.worker) : null;
  // Every instance seals the trail; concurrent checkpointers cannot fork the checkpoint chain.
  const checkpointer = startCheckpointer(db, loadCheckpointSigner(config), config.audit.checkpointIntervalMs, log);

  let stopping: Promise<void> | null = null;
  return {
    url: `http://${config.host}:${port}/graphql`,
    port,
    config,
    db,
    jobs,
    auth,
    worker,
    checkpointer,
    log,
    stop() {
      stopping ??= (async () => {
        await worker?.stop();
        await ws.close();
        await apollo.stop();
        await jobEvents.stop();
        await stopFollowing();
        await checkpointer.stop({ seal: config.audit.checkpointIntervalMs > 0 });
        if (!deps.db) await db.close();
      })();
      return stopping;
    },
  };
}
