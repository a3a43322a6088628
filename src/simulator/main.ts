import { createLogger } from '../observability/logger';
import { DEFAULT_SIMULATOR_API_KEY, startProviderSimulator } from './simulator';
import type { SimulatorOptions } from './types';

/** Port of the stand-alone simulator when SIMULATOR_PORT is unset. */
export const DEFAULT_SIMULATOR_PORT = 4_010;

/**
 * Reads the stand-alone simulator's settings from `env`. This separate program is the one exception to
 * "config.ts is the only env reader": it must run without the gateway's configuration. Throws one Error listing
 * every invalid variable.
 */
export function loadSimulatorOptions(env: NodeJS.ProcessEnv = process.env): SimulatorOptions {
  const problems: string[] = [];
  const int = (
    name: string,
    fallback: number | undefined,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined => {
    const text = env[name];
    if (text === undefined || text.trim() === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 0 || value > max) {
      problems.push(`${name} must be an integer between 0 and ${max} (got "${text}")`);
      return fallback;
    }
    return value;
  };
  const mode = env.SIMULATOR_CALLBACK_MODE?.trim() || undefined;
  if (mode !== undefined && mode !== 'single' && mode !== 'per-number') {
    problems.push(`SIMULATOR_CALLBACK_MODE must be "single" or "per-number" (got "${mode}")`);
  }
  const options: SimulatorOptions = {
    host: env.SIMULATOR_HOST?.trim() || '127.0.0.1',
    port: int('SIMULATOR_PORT', DEFAULT_SIMULATOR_PORT, 65_535),
    apiKey: env.SIMULATOR_API_KEY?.trim() || DEFAULT_SIMULATOR_API_KEY,
    callbackDelayMs: int('SIMULATOR_CALLBACK_DELAY_MS', undefined),
    latencyMs: int('SIMULATOR_LATENCY_MS', undefined),
    callbackMode: mode === 'per-number' ? 'per-number' : mode === 'single' ? 'single' : undefined,
  };
  if (problems.length > 0) {
    throw new Error(`Invalid simulator environment; fix these variables:\n- ${problems.join('\n- ')}`);
  }
  return options;
}

async function main(): Promise<void> {
  const logger = createLogger({ name: 'provider-simulator', level: process.env.LOG_LEVEL || 'info' });
  let options: SimulatorOptions;
  try {
    options = loadSimulatorOptions();
  } catch (err) {
    logger.error((err as Error).message);
    process.exitCode = 1;
    return;
  }
  const simulator = await startProviderSimulator({ ...options, logger });
  // the key is the simulator's own fixed credential, not a secret: clients need it to talk to it
  logger.info(
    { url: simulator.url, key: simulator.apiKey, header: `Authorization: App ${simulator.apiKey}` },
    'provider simulator listening',
  );
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'provider simulator stopping');
    simulator.dispose().then(
      () => logger.info('provider simulator stopped'),
      (err: unknown) => {
        logger.error({ err }, 'provider simulator failed to stop cleanly');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.exitCode = 1;
    console.error('provider simulator failed to start:', err);
  });
}
