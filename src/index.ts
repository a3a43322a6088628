import 'reflect-metadata';
import { buildApp } from './app';
import { loadConfig } from './config';
import { ConfigError } from './errors';
import { createLogger, type Logger } from './observability/logger';

/** Writes out buffered log lines, then exits. */
function exit(logger: Logger, code: number): never {
  try {
    logger.flush();
  } finally {
    process.exit(code);
  }
}

/**
 * Process entry: configuration, the app, and signals. SIGTERM/SIGINT stop the gateway gracefully
 * (`GatewayApp.stop`: stop accepting, in-flight operations and callbacks finished, WebSockets closed with 1001)
 * and exit 0; if operations had to be cut at the bound, or the stop did not end within `SHUTDOWN_TIMEOUT_MS`,
 * the process exits 1.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const app = buildApp(config, { logger });
  // Listening for signals before starting: a signal during start-up then stops cleanly too.
  const started = app.start();

  let stopping = false;
  const shutdown = (signal: string) => {
    // Repeats are common and not a request to hurry (Ctrl-C under `npm start` reaches npm and the gateway,
    // and npm forwards it once more): the deadline below bounds the shutdown anyway.
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down');
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out; exiting');
      exit(logger, 1);
    }, config.shutdownTimeoutMs).unref();
    started
      .catch(() => undefined)
      .then(() => app.stop())
      .then(
        ({ graceful }) => {
          if (!graceful) logger.warn('operations still running at the shutdown bound were cut');
          exit(logger, graceful ? 0 : 1);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          exit(logger, 1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await started;
}

main().catch((error: unknown) => {
  console.error(
    `number lookup gateway failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
