/**
 * The one logger interface of tinflow. It has pino's call shape (fields first, then a message), so a
 * pino logger is one, and a test can pass one that records. `createLogger` makes the logger every CLI
 * uses (pino, JSON lines on stderr); `nullLogger` drops everything, for libraries used without a log.
 *
 * May import: node: modules and pino. Nothing else of tinflow (see base/README.md).
 */
import { destination, pino } from 'pino';

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The levels a CLI accepts for --log-level, lowest first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Fields on every line, e.g. `{ bridge: 'br0' }`. */
  readonly base?: Readonly<Record<string, unknown>>;
  /** File descriptor to write to. Default 2 (stderr: stdout stays free for a command's output). */
  readonly fd?: number;
}

/** A pino logger writing JSON lines synchronously to `fd`, so nothing is lost when the process exits. */
export function createLogger(opts: LoggerOptions): Logger {
  return pino({ level: opts.level, base: { ...opts.base } }, destination(opts.fd ?? 2));
}

const drop = (): void => undefined;

/** A logger that drops everything. */
export const nullLogger: Logger = Object.freeze({ debug: drop, info: drop, warn: drop, error: drop });
