import { parseArgs } from 'node:util';
import { TOKEN_OPTIONS, TOKEN_USAGE } from './cli/usage';
import { loadConfig, readEnvironment, type Config } from './config';
import { ConfigError } from './errors';
import { createLogger } from './log';

// Each command's modules are loaded when that command runs: `serve` does not load the audit
// tools or the token minting, and `token` does not load the server. (Loading modules is
// synchronous work at start-up that blocks the event loop.)

// Development defaults for local tools: no Clerk telemetry from a developer's machine.
process.env.CLERK_TELEMETRY_DISABLED ??= '1';

const USAGE = `usage: jobledger <command>
  serve                     start the API server (npm start)
  worker                    run only the job worker (npm run worker)
  migrate                   apply database migrations and exit (npm run migrate)
  ${TOKEN_USAGE.replace(/\n/g, '\n  ')}
                            print a token the server accepts (npm run token -- --user ID; see docs/clerk.md)
  audit verify|export|checkpoint
                            audit trail tools (npm run audit -- help)`;

/** `--help` of each command: answered before the configuration is read, so it always works. */
const HELP: Record<string, string> = {
  serve: 'usage: npm start  (jobledger serve)\n  Starts the API server. Configuration comes from the environment, .env.local and .env (see README.md).',
  worker: 'usage: npm run worker  (jobledger worker)\n  Runs only the job worker (and the audit checkpointer) against DATABASE_URL or the embedded store.',
  migrate: 'usage: npm run migrate  (jobledger migrate)\n  Applies the database migrations and exits.',
  token: `usage: npm run token -- <options>  (jobledger token)
  ${TOKEN_USAGE.replace(/\n/g, '\n  ')}
  --user ID         the user (sub) the token is for
  --email E         an email claim (local issuer only)
  --role R          admin or auditor (local issuer: a claim; Clerk: the user's public metadata, see docs/clerk.md)
  --ttl SECONDS     lifetime (default 1 hour locally; Clerk: at least 30)
  --session SID     mint for an existing Clerk session
  --template NAME   a Clerk JWT-template token
  --export          print "export CLERK_TOKEN=..." for eval
  --list-templates  list the Clerk instance's JWT templates`,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h') || (command === 'audit' && rest[0] === 'help')) {
    const help = command === 'audit' ? (require('./cli/audit') as typeof import('./cli/audit')).AUDIT_USAGE : HELP[command];
    if (help) {
      console.log(help);
      return 0;
    }
  }
  const config = loadConfigOrExit();
  // The server and the worker log to stdout; tool commands to stderr, beside what they print.
  const service = command === 'serve' || command === 'worker';
  const format = config.logFormat ?? (config.nodeEnv === 'development' && process.stdout.isTTY ? 'pretty' : 'json');
  const log = createLogger(config.logLevel, { destination: service ? 'stdout' : 'stderr', format });
  switch (command) {
    case 'serve': {
      const { startServer } = require('./server') as typeof import('./server');
      const server = await startServer(config, { log }).catch((err: unknown) => {
        throw listenProblem(err, config) ?? err;
      });
      announce(server.url, config, server.auth.describe, server.metricsUrl);
      onShutdown(() => server.stop(), config.shutdownTimeoutMs);
      return -1;
    }
    case 'worker': {
      const { startCheckpointer } = require('./audit/checkpoint/create') as typeof import('./audit/checkpoint/create');
      const { loadCheckpointSigner } = require('./audit/checkpoint/key') as typeof import('./audit/checkpoint/key');
      const { JobsService } = require('./jobs/service') as typeof import('./jobs/service');
      const { startWorker } = require('./jobs/worker') as typeof import('./jobs/worker');
      const { openMigratedDatabase } = require('./store/open') as typeof import('./store/open');
      const db = await openMigratedDatabase(config, log);
      const worker = await startWorker(db, new JobsService(db), log, { ...config.worker });
      const checkpointer = startCheckpointer(db, loadCheckpointSigner(config), config.audit.checkpointIntervalMs, log);
      const { startMetricsEndpoint } = require('./transport/metricsEndpoint') as typeof import('./transport/metricsEndpoint');
      const metricsEndpoint = config.metrics ? await startMetricsEndpoint(config.metrics, db, log) : null;
      if (metricsEndpoint) console.log(`jobledger worker metrics on ${metricsEndpoint.url}`);
      onShutdown(async () => {
        await worker.stop();
        await checkpointer.stop({ seal: config.audit.checkpointIntervalMs > 0 });
        await metricsEndpoint?.close();
        await db.close();
      }, config.shutdownTimeoutMs);
      return -1;
    }
    case 'migrate': {
      const { migrate } = require('./store/migrate') as typeof import('./store/migrate');
      const { openDatabase } = require('./store/open') as typeof import('./store/open');
      const db = await openDatabase(config, log);
      const applied = await migrate(db);
      await db.close();
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.');
      return 0;
    }
    case 'token': {
      const { values } = parseArgs({ args: rest, options: TOKEN_OPTIONS });
      const { runTokenCommand } = require('./cli/token') as typeof import('./cli/token');
      const out = await runTokenCommand(config, values);
      if (out.stderr) console.error(out.stderr);
      if (out.stdout) console.log(out.stdout);
      return 0;
    }
    case 'audit':
      return (require('./cli/audit') as typeof import('./cli/audit')).runAuditCommand(rest, config, log);
    default:
      console.error(USAGE);
      return 2;
  }
}

function loadConfigOrExit(): Config {
  try {
    return loadConfig(readEnvironment());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

function announce(url: string, config: Config, authDescription: string, metricsUrl: string | null): void {
  const lines = [`jobledger is listening on ${url}`, `  storage: ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}/pglite`}`, `  auth:    ${authDescription}`];
  if (metricsUrl) lines.push(`  metrics: ${metricsUrl}`);
  if (config.auth.mode === 'dev') {
    lines.push(
      '',
      '  Get a token (valid 1 hour):   npm run token -- --user user_alice',
      '  Auditor or admin token:       npm run token -- --user user_qa --role auditor',
      `  Open ${url} in a browser for Apollo Sandbox, and add the header`,
      '    Authorization: Bearer <token>',
      '  in Sandbox\'s Headers panel. Try:  query { viewer { userId roles } }',
    );
  }
  console.log(lines.join('\n'));
}

/** The listen failure an operator meets most (a port in use, or one they may not bind) as one line. */
function listenProblem(err: unknown, config: Config): Error | null {
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall !== 'listen') return null;
  const where = `PORT=${config.port} on HOST=${config.host}`;
  if (e.code === 'EADDRINUSE') return new Error(`${where} is already in use: stop the other process, or set PORT to a free port.`);
  if (e.code === 'EACCES') return new Error(`${where} needs privileges this process lacks: set PORT to 1024 or above.`);
  if (e.code === 'EADDRNOTAVAIL') return new Error(`${where}: no such address on this machine; set HOST to one of its addresses (or 0.0.0.0).`);
  return new Error(`Cannot listen on ${where}: ${e.message}`);
}

/**
 * An orderly stop, bounded: past SHUTDOWN_TIMEOUT_MS the process exits 1 anyway, and a second
 * signal exits at once (an operator pressing Ctrl-C twice means it).
 */
function onShutdown(stop: () => Promise<void>, timeoutMs: number): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} received again: exiting without finishing the shutdown`);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    stopping = true;
    console.log(`${signal} received, shutting down`);
    setTimeout(() => {
      console.error(`shutdown did not finish within SHUTDOWN_TIMEOUT_MS=${timeoutMs}; exiting`);
      process.exit(1);
    }, timeoutMs).unref();
    stop().then(
      () => {
        console.log('stopped');
        process.exit(0);
      },
      (err) => {
        console.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
