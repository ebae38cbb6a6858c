/**
 * Endpoints as OVS and Ryu users write them, parsed in one place for the switch and the controller:
 *
 *   tcp:HOST:PORT   ssl:HOST:PORT     an address to dial (the controller also listens on these, as Ryu does)
 *   ptcp:PORT[:IP]  pssl:PORT[:IP]    a passive listener (IP defaults to 0.0.0.0)
 *   unix:PATH       punix:PATH        a Unix socket to dial / to listen on
 *
 * IPv6 hosts may be bare or in brackets (`tcp:[::1]:6653`, `ptcp:6653:::1`). The parser only reads the
 * syntax; what a kind means on each side is the caller's business, and so is which kinds it accepts
 * (`kinds`): any other kind is refused as unknown, naming the forms that are accepted.
 *
 * May import: nothing (see base/README.md).
 */

export const ENDPOINT_KINDS = ['tcp', 'ssl', 'ptcp', 'pssl', 'unix', 'punix'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

export interface HostPort<K extends EndpointKind> {
  readonly kind: K;
  readonly host: string;
  readonly port: number;
}

export interface SocketPath<K extends EndpointKind> {
  readonly kind: K;
  readonly path: string;
}

export type Endpoint =
  | HostPort<'tcp'>
  | HostPort<'ssl'>
  | HostPort<'ptcp'>
  | HostPort<'pssl'>
  | SocketPath<'unix'>
  | SocketPath<'punix'>;

/** The endpoints of the given kinds, e.g. `EndpointOf<'tcp' | 'ssl'>`. */
export type EndpointOf<K extends EndpointKind> = Extract<Endpoint, { readonly kind: K }>;

const FORMS: Readonly<Record<EndpointKind, string>> = {
  tcp: 'tcp:IP:PORT',
  ssl: 'ssl:IP:PORT',
  ptcp: 'ptcp:PORT[:IP]',
  pssl: 'pssl:PORT[:IP]',
  unix: 'unix:PATH',
  punix: 'punix:PATH',
};

/** A bad endpoint: `input` as given, `reason` what was wrong with it. */
export class EndpointError extends Error {
  override readonly name = 'EndpointError';
  constructor(
    readonly input: string,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** "a", "a or b", "a, b or c". */
export function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1] ?? ''}`;
}

function isKind(s: string | undefined, kinds: readonly EndpointKind[]): s is EndpointKind {
  return (kinds as readonly (string | undefined)[]).includes(s);
}

function unbracket(host: string): string {
  return host.replace(/^\[|\]$/g, '');
}

/**
 * Parses one endpoint of the given kinds. `what` names it in errors: `bad ${what} "INPUT": REASON
 * (expected FORMS)`, e.g. `bad --listen "udp:1.2.3.4:5": unknown kind "udp" (expected tcp:IP:PORT or ssl:IP:PORT)`.
 */
export function parseEndpoint<K extends EndpointKind>(s: string, kinds: readonly K[], what = 'endpoint'): EndpointOf<K> {
  const bad = (reason: string): never => {
    throw new EndpointError(s, reason, `bad ${what} ${JSON.stringify(s)}: ${reason} (expected ${orList(kinds.map((k) => FORMS[k]))})`);
  };
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  if (!isKind(kind, kinds)) return bad(`unknown kind ${JSON.stringify(kind)}`);
  const rest = colon < 0 ? [] : s.slice(colon + 1).split(':');
  const portOf = (p: string | undefined): number => {
    const n = Number(p);
    if (p === undefined || !/^\d+$/.test(p) || n > 65535) bad(`port ${JSON.stringify(p ?? '')} is not 0..65535`);
    return n;
  };
  let ep: Endpoint;
  switch (kind) {
    case 'tcp':
    case 'ssl': {
      if (rest.length < 2) return bad('needs a host and a port');
      const port = portOf(rest[rest.length - 1]);
      const host = unbracket(rest.slice(0, -1).join(':'));
      if (!host) return bad('empty host');
      ep = { kind, host, port };
      break;
    }
    case 'ptcp':
    case 'pssl': {
      if (rest.length < 1) return bad('needs a port');
      const port = portOf(rest[0]);
      const host = rest.length > 1 ? unbracket(rest.slice(1).join(':')) : '0.0.0.0';
      if (!host) return bad('empty IP');
      ep = { kind, host, port };
      break;
    }
    case 'unix':
    case 'punix': {
      const path = rest.join(':');
      if (!path) return bad('empty path');
      ep = { kind, path };
      break;
    }
  }
  return ep as EndpointOf<K>;
}

/** The text form of an endpoint, as parseEndpoint reads it (IPv6 hosts of tcp/ssl in brackets). */
export function formatEndpoint(ep: Endpoint): string {
  switch (ep.kind) {
    case 'tcp':
    case 'ssl':
      return `${ep.kind}:${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
    case 'ptcp':
    case 'pssl':
      return `${ep.kind}:${ep.port}:${ep.host}`;
    case 'unix':
    case 'punix':
      return `${ep.kind}:${ep.path}`;
  }
}
