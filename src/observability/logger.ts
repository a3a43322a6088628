import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Paths redacted from every log line: credentials and callback secrets never reach the logs. */
export const REDACTED_PATHS = [
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'notifyUrl',
  '*.notifyUrl',
  'connectionParams',
  '*.connectionParams',
];

/**
 * Creates the JSON logger (pino) used by every component. `level` defaults to `info`; `silent` turns it off
 * (tests). Lines go to stdout unless `destination` is given (tests capture them that way). Secrets are
 * redacted by path; callers must still never interpolate a secret into a message.
 */
export function createLogger(
  options: { level?: string; name?: string; destination?: DestinationStream } = {},
): Logger {
  return pino(
    {
      name: options.name ?? 'number-lookup-gateway',
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}
