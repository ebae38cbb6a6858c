/**
 * `tinflow controller` configuration: command line → one frozen object, defaults in one place, and
 * errors that name the flag and what was wrong.
 */
import { ConfigError, endpointFlag, enumFlag, intFlag, parseFlags } from '../base/cli.js';
import { LOG_LEVELS, type LogLevel } from '../base/logger.js';
import { SecretFileError, isLoopback, readTokenFile } from '../base/secret.js';
import { ENDPOINT_KINDS } from './controller.js';

export type AppSpec = { readonly kind: 'builtin'; readonly name: 'learning' | 'hub' } | { readonly kind: 'module'; readonly path: string };

export interface ControllerConfig {
  readonly listen: readonly string[];
  readonly switches: readonly string[];
  readonly apps: readonly AppSpec[];
  /** `token`: read from --rest-token-file; every REST request must then carry it (base/secret.ts). */
  readonly rest: { readonly host: string; readonly port: number; readonly token?: string } | undefined;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca?: string } | undefined;
  readonly idleTimeout: number;
  readonly echoInterval: number;
  readonly logLevel: LogLevel;
}

const DEFAULTS = {
  listen: ['tcp:127.0.0.1:6653'],
  apps: [{ kind: 'builtin', name: 'learning' }] as AppSpec[],
  idleTimeout: 30,
  echoInterval: 15,
  logLevel: 'info',
} as const;

export const CONTROLLER_USAGE = `usage: tinflow controller [--listen tcp:IP:PORT ...] [--switch tcp:HOST:PORT ...]
                          [--app learning|hub|PATH ...] [--rest IP:PORT [--rest-token-file FILE]]
                          [--cert FILE --key FILE [--ca FILE]] [--idle-timeout S] [--echo-interval S]
                          [--log-level LEVEL]

  --listen T        where switches connect: tcp:IP:PORT or ssl:IP:PORT (repeatable; default tcp:127.0.0.1:6653)
  --switch T        a passive switch to dial (ptcp/pssl on its side): tcp:HOST:PORT or ssl:HOST:PORT (repeatable)
  --app A           learning (Ryu's simple_switch_13), hub, or a path to a module whose default export is an
                    app factory (repeatable; apps run in the order given; default learning)
  --rest IP:PORT    serve the REST API (Ryu ofctl_rest routes, /metrics, WebSocket /events); IP:PORT or PORT
                    (PORT alone binds 127.0.0.1)
  --rest-token-file FILE  a file (mode 0600) holding the REST API's bearer token: every request must send
                    "Authorization: Bearer TOKEN"; required when --rest binds anything but loopback
  --cert/--key/--ca TLS files for ssl: (without --ca, switch certificates are not verified)
  --idle-timeout S  idle timeout of the learning app's flows (default 30; 0 = none)
  --echo-interval S switch silence before an echo request; twice that and the switch is dropped (default 15)
  --log-level L     trace, debug, info, warn, error or silent (default info)
`;

export function parseControllerArgs(argv: readonly string[]): ControllerConfig {
  const values = parseFlags(argv, {
    listen: { type: 'string', multiple: true },
    switch: { type: 'string', multiple: true },
    app: { type: 'string', multiple: true },
    rest: { type: 'string' },
    'rest-token-file': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    ca: { type: 'string' },
    'idle-timeout': { type: 'string' },
    'echo-interval': { type: 'string' },
    'log-level': { type: 'string' },
  });
  const listen = values.listen ?? [...DEFAULTS.listen];
  for (const l of listen) endpointFlag('--listen', l, ENDPOINT_KINDS);
  const switches = values.switch ?? [];
  for (const s of switches) endpointFlag('--switch', s, ENDPOINT_KINDS);
  const apps: AppSpec[] = (values.app ?? []).map((a): AppSpec => {
    if (a === 'learning' || a === 'hub') return { kind: 'builtin', name: a };
    if (a.includes('/') || /\.(m?js|ts)$/.test(a)) return { kind: 'module', path: a };
    throw new ConfigError('--app', `${JSON.stringify(a)} is neither a built-in app (learning, hub) nor a path to a module`);
  });
  let rest: ControllerConfig['rest'];
  if (values.rest !== undefined) {
    const r = values.rest;
    const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(r);
    if (!m) throw new ConfigError('--rest', `expected IP:PORT or PORT, got ${JSON.stringify(r)}`);
    rest = { host: m[1] || '127.0.0.1', port: intFlag('--rest', m[2] ?? '', 0, 65535) };
  }
  const tokenFile = values['rest-token-file'];
  if (tokenFile !== undefined && rest === undefined) throw new ConfigError('--rest-token-file', 'needs --rest (the token guards the REST API)');
  if (rest !== undefined && tokenFile === undefined && !isLoopback(rest.host)) {
    throw new ConfigError('--rest', `${rest.host} is not loopback: the REST API would be open to other machines; give --rest-token-file FILE (a file of mode 0600 holding the token) or bind 127.0.0.1`);
  }
  if (rest !== undefined && tokenFile !== undefined) {
    try {
      rest = { ...rest, token: readTokenFile(tokenFile) };
    } catch (e) {
      if (e instanceof SecretFileError) throw new ConfigError('--rest-token-file', e.message);
      throw e;
    }
  }
  const usesSsl = [...listen, ...switches].some((s) => s.startsWith('ssl:'));
  if ((values.cert === undefined) !== (values.key === undefined)) throw new ConfigError('--cert', '--cert and --key go together', '--cert and --key go together');
  if (usesSsl && values.cert === undefined) throw new ConfigError('--cert', 'ssl: needs --cert FILE and --key FILE', 'ssl: needs --cert FILE and --key FILE');
  const tls = values.cert !== undefined && values.key !== undefined ? { cert: values.cert, key: values.key, ...(values.ca ? { ca: values.ca } : {}) } : undefined;
  const level = enumFlag('--log-level', values['log-level'] ?? DEFAULTS.logLevel, LOG_LEVELS);
  return Object.freeze({
    listen,
    switches,
    apps: apps.length > 0 ? apps : DEFAULTS.apps,
    rest,
    tls,
    idleTimeout: values['idle-timeout'] !== undefined ? intFlag('--idle-timeout', values['idle-timeout'], 0, 65535) : DEFAULTS.idleTimeout,
    echoInterval: values['echo-interval'] !== undefined ? intFlag('--echo-interval', values['echo-interval'], 1, 3600) : DEFAULTS.echoInterval,
    logLevel: level,
  });
}
