import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault, ApolloServerPluginLandingPageProductionDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { startCheckpointer, type Checkpointer } from './audit/checkpoint/create';
import { loadCheckpointSigner } from './audit/checkpoint/key';
import { createAuth, type AuthSetup } from './auth/setup';
import { createClerkUserEmails } from './auth/userEmails';
import type { Config } from './config';
import { createContext, type GraphQLContext, type Services } from './context';
import { AppError, ErrorCode, internalError } from './errors';
import { errorStatusPlugin, formatError } from './graphql/errors';
import { buildSchema } from './graphql/schema';
import { TrustedDocuments } from './graphql/trustedDocuments';
import { JobsService } from './jobs/service';
import { startWorker, type Worker } from './jobs/worker';
import { createLogger, type Logger } from './log';
import type { Database } from './store/database';
import { SessionRevocations } from './sessions/clerkEvents';
import { DatabaseSessionGate } from './sessions/gate';
import { openMigratedDatabase } from './store/open';
import { authenticate, FixedWindowLimiter, rateLimit } from './transport/http';
import { cors } from './transport/cors';
import { csrfPrevention } from './transport/csrf';
import { readyz } from './transport/health';
import { graphqlHttpHandler } from './transport/graphqlHttp';
import { pipeline, sendError, sendJson } from './transport/respond';
import { routeRequests } from './transport/routes';
import { devTokenRoute } from './transport/devToken';
import { JobEvents } from './jobs/events';
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
  const emails = config.auth.secretKey ? createClerkUserEmails({ apiUrl: config.auth.apiUrl, secretKey: config.auth.secretKey, log }) : undefined;
  const sessions = new SessionRevocations(sessionGate, emails ? [emails] : []);
  const auth = createAuth(config, log, sessionGate);
  const jobs = new JobsService(db);
  const services: Services = { db, jobs, emails };
  const jobEvents = new JobEvents(db, jobs);
  await jobEvents.start();
  const schema = buildSchema(jobEvents);
  const trusted = TrustedDocuments.fromConfig(config);

  const httpServer = http.createServer();

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
      // Nothing here sets cache hints, and the plugin wraps every field resolver to collect them.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownTimeoutMs / 2 }), // in-flight requests get half the shutdown budget
      config.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false }),
    ],
  });
  await apollo.start();

  const devToken = devTokenRoute(config, auth);
  const webhooks = clerkWebhooks({ config, db, sessions, log });
  const notFound = (req: http.IncomingMessage, res: http.ServerResponse) =>
    sendError(req, res, new AppError(ErrorCode.NOT_FOUND, `No route ${req.method} ${(req.url ?? '/').split('?')[0]}. The API is POST /graphql.`));
  httpServer.on(
    'request',
    routeRequests(
      {
        '/graphql': graphqlHttpHandler({
          apollo,
          services,
          log,
          maxBodyBytes: config.maxBodyBytes,
          beforeBody: [cors(config), csrfPrevention()],
          afterBody: [trusted.middleware(), authenticate(auth.verifier, log, new FixedWindowLimiter(config.rateLimitPerMinute)), rateLimit(new FixedWindowLimiter(config.rateLimitPerMinute))],
        }),
        '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
        ...(devToken ? { '/dev/token': pipeline([cors(config)], (req, res) => devToken(req, res, () => undefined), (req, res) => sendError(req, res, internalError())) } : {}),
        '/readyz': readyz(db),
        '/webhooks/clerk': (req, res) => webhooks(req, res, () => notFound(req, res)),
      },
      notFound,
    ),
  );

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
