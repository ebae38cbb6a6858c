/**
 * `tinflow controller` configuration: command line → one frozen object, defaults in one place, and
 * errors that name the flag and what was wrong.
 */
import { parseArgs } from 'node:util';
import { ControllerError } from './errors.js';
import { parseEndpoint } from './controller.js';

export type AppSpec = { readonly kind: 'builtin'; readonly name: 'learning' | 'hub' } | { readonly kind: 'module'; readonly path: string };

export interface ControllerConfig {
  readonly listen: readonly string[];
  readonly switches: readonly string[];
  readonly apps: readonly AppSpec[];
  readonly rest: { readonly host: string; readonly port: number } | undefined;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca?: string } | undefined;
  readonly idleTimeout: number;
  readonly echoInterval: number;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

const DEFAULTS = {
  listen: ['tcp:127.0.0.1:6653'],
  apps: [{ kind: 'builtin', name: 'learning' }] as AppSpec[],
  idleTimeout: 30,
  echoInterval: 15,
  logLevel: 'info',
} as const;

export const CONTROLLER_USAGE = `usage: tinflow controller [--listen tcp:IP:PORT ...] [--switch tcp:HOST:PORT ...]
                          [--app learning|hub|PATH ...] [--rest IP:PORT]
                          [--cert FILE --key FILE [--ca FILE]] [--idle-timeout S] [--echo-interval S]
                          [--log-level LEVEL]

  --listen T        where switches connect: tcp:IP:PORT or ssl:IP:PORT (repeatable; default tcp:127.0.0.1:6653)
  --switch T        a passive switch to dial (ptcp/pssl on its side): tcp:HOST:PORT or ssl:HOST:PORT (repeatable)
  --app A           learning (Ryu's simple_switch_13), hub, or a path to a module whose default export is an
                    app factory (repeatable; apps run in the order given; default learning)
  --rest IP:PORT    serve the REST API (Ryu ofctl_rest routes, /metrics, WebSocket /events); IP:PORT or PORT
                    (PORT alone binds 127.0.0.1)
  --cert/--key/--ca TLS files for ssl: (without --ca, switch certificates are not verified)
  --idle-timeout S  idle timeout of the learning app's flows (default 30; 0 = none)
  --echo-interval S switch silence before an echo request; twice that and the switch is dropped (default 15)
  --log-level L     trace, debug, info, warn, error or silent (default info)
`;

function bad(msg: string): never {
  throw new ControllerError('config', msg);
}

function num(flag: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) bad(`${flag}: expected a whole number ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function parseControllerArgs(argv: readonly string[]): ControllerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        switch: { type: 'string', multiple: true },
        app: { type: 'string', multiple: true },
        rest: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        ca: { type: 'string' },
        'idle-timeout': { type: 'string' },
        'echo-interval': { type: 'string' },
        'log-level': { type: 'string' },
      },
    }));
  } catch (e) {
    return bad((e as Error).message.replace(/^.*?: /, '').split('\n')[0] ?? 'bad arguments');
  }
  const listen = values.listen ?? [...DEFAULTS.listen];
  for (const l of listen) parseEndpoint(l, '--listen');
  const switches = values.switch ?? [];
  for (const s of switches) parseEndpoint(s, '--switch');
  const apps: AppSpec[] = (values.app ?? []).map((a): AppSpec => {
    if (a === 'learning' || a === 'hub') return { kind: 'builtin', name: a };
    if (a.includes('/') || /\.(m?js|ts)$/.test(a)) return { kind: 'module', path: a };
    return bad(`--app: ${JSON.stringify(a)} is neither a built-in app (learning, hub) nor a path to a module`);
  });
  let rest: ControllerConfig['rest'];
  if (values.rest !== undefined) {
    const r = values.rest;
    const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(r);
    if (!m) bad(`--rest: expected IP:PORT or PORT, got ${JSON.stringify(r)}`);
    rest = { host: m[1] || '127.0.0.1', port: num('--rest', m[2] ?? '', 0, 65535) };
  }
  const usesSsl = [...listen, ...switches].some((s) => s.startsWith('ssl:'));
  if ((values.cert === undefined) !== (values.key === undefined)) bad('--cert and --key go together');
  if (usesSsl && values.cert === undefined) bad('ssl: needs --cert FILE and --key FILE');
  const tls = values.cert !== undefined && values.key !== undefined ? { cert: values.cert, key: values.key, ...(values.ca ? { ca: values.ca } : {}) } : undefined;
  const level = values['log-level'] ?? DEFAULTS.logLevel;
  if (!['trace', 'debug', 'info', 'warn', 'error', 'silent'].includes(level)) {
    bad(`--log-level: expected trace, debug, info, warn, error or silent, got ${JSON.stringify(level)}`);
  }
  return Object.freeze({
    listen,
    switches,
    apps: apps.length > 0 ? apps : DEFAULTS.apps,
    rest,
    tls,
    idleTimeout: values['idle-timeout'] !== undefined ? num('--idle-timeout', values['idle-timeout'], 0, 65535) : DEFAULTS.idleTimeout,
    echoInterval: values['echo-interval'] !== undefined ? num('--echo-interval', values['echo-interval'], 1, 3600) : DEFAULTS.echoInterval,
    logLevel: level as ControllerConfig['logLevel'],
  });
}
