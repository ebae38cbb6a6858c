/**
 * The command-line kit every tinflow command uses: flags parsed by node:util parseArgs (strict, no
 * positionals), one ConfigError that carries the flag or key path it is about, and checked readers for
 * whole numbers, choices and endpoints. A CLI prints `tinflow CMD: ${error.message}` and exits 2.
 *
 * May import: node: modules and base/ (see base/README.md).
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type EndpointKind, type EndpointOf, EndpointError, orList, parseEndpoint } from './endpoint.js';

/**
 * A bad flag or configuration value. `key` is the flag (`--tables`) or key path (`$.ports[2].name`) it
 * is about, '' when it is about the command line as a whole; the message names it.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    /** What was wrong, without the key. */
    readonly detail: string,
    /** The whole message, when it names the key in its own words; default `${key}: ${detail}`. */
    message?: string,
  ) {
    super(message ?? (key ? `${key}: ${detail}` : detail));
  }
}

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
type FlagValues<O extends FlagOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/** Parses argv against `options`; parseArgs' errors become a ConfigError of one line. */
export function parseFlags<O extends FlagOptions>(argv: readonly string[], options: O): FlagValues<O> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // parseArgs explains some errors over three lines; the first says what was wrong.
    const first = (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? 'bad arguments';
    const flag = /'(--?[\w-]+)/.exec(first)?.[1] ?? '';
    throw new ConfigError(flag, first, first);
  }
}

/** A whole number min..max written in decimal digits. */
export function intFlag(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new ConfigError(flag, `expected a whole number ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** One of `choices`. */
export function enumFlag<T extends string>(flag: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) throw new ConfigError(flag, `expected ${orList(choices)}, got ${JSON.stringify(v)}`);
  return v as T;
}

/**
 * An endpoint of the given kinds (base/endpoint.ts). `what` names the value inside the message, which
 * reads `bad ${what} "VALUE": REASON (expected FORMS)`; with `prefix` the flag is put in front of it.
 */
export function endpointFlag<K extends EndpointKind>(flag: string, v: string, kinds: readonly K[], opts: { readonly what?: string; readonly prefix?: boolean } = {}): EndpointOf<K> {
  try {
    return parseEndpoint(v, kinds, opts.what ?? flag);
  } catch (e) {
    if (!(e instanceof EndpointError)) throw e;
    throw new ConfigError(flag, e.message, opts.prefix ? `${flag}: ${e.message}` : e.message);
  }
}
