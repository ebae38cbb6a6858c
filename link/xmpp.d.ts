/**
 * Types for the part of @xmpp/client 0.14 that link/signal*.ts uses (the package ships none). Written
 * from its source (node_modules/@xmpp/{client,connection,xml}); only what we call is declared, and
 * where the library is loose (attributes, event arguments) the types say what we rely on.
 *
 * The transport hook (`transports`, `Transport.prototype.Socket`) is the library's own extension point
 * (how @xmpp/tcp and @xmpp/tls plug in): the client dials a service with the first transport whose
 * `socketParameters(service)` is not undefined, builds `new Transport.prototype.Socket()` and calls
 * `socket.connect(thoseParameters)`. link/signal-socket.ts is such a socket.
 */
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  /** An XML element (ltx's Element). */
  export interface Element {
    name: string;
    attrs: Record<string, string | undefined>;
    children: (Element | string)[];
    /** Local name and namespace (prefixes resolved through the parents). */
    is(name: string, xmlns?: string): boolean;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    /** The element's text children joined (entities decoded). */
    text(): string;
    toString(): string;
  }

  export type XmlChild = Element | string | false | null | undefined;

  /** The streaming parser a connection uses: 'start' (the stream element), 'element' (each child, whole). */
  export interface XmlParser extends EventEmitter<{ start: [Element]; element: [Element]; end: [Element]; error: [Error] }> {
    write(data: string): void;
  }

  export interface Xml {
    (name: string, attrs?: Readonly<Record<string, string | undefined>> | null, ...children: XmlChild[]): Element;
    readonly Parser: new () => XmlParser;
  }
  export const xml: Xml;

  export interface JID {
    readonly local: string;
    readonly domain: string;
    readonly resource: string;
    toString(): string;
  }

  /** What a connection needs of its socket. Events: connect, data (string), close (hadError), error. */
  export interface XmppSocket extends EventEmitter {
    /** True once the bytes are encrypted (the client then uses the strongest SASL mechanism). */
    readonly secure: boolean;
    connect(params: unknown): void;
    write(data: string, done: (err?: Error | null) => void): void;
    end(): void;
  }

  export interface Transport {
    /** Undefined when this transport does not serve `service`. */
    socketParameters(service: string): unknown;
    Socket: new () => XmppSocket;
  }
  export type TransportClass = new (options: object) => Transport;

  export type Authenticate = (credentials: { readonly username: string; readonly password: string }, mechanism: string) => Promise<void>;

  export interface ClientOptions {
    /** `xmpp://host:port` (TCP), `xmpps://host:port` (direct TLS), `ws(s)://...`. */
    readonly service: string;
    readonly domain: string;
    readonly resource?: string;
    /** Called with the mechanisms both sides support, strongest first; must call authenticate. */
    readonly credentials?: (authenticate: Authenticate, mechanisms: readonly string[], fast: unknown, entity: Client) => Promise<void>;
    /** Stream open and close timeout (ms). Default 2000. */
    readonly timeout?: number;
  }

  /** 'online' after resource binding; 'disconnect' when the socket closed; 'offline' after stop(). */
  export type ClientStatus = 'offline' | 'connecting' | 'connect' | 'opening' | 'open' | 'online' | 'closing' | 'close' | 'disconnecting' | 'disconnect';

  export interface ClientEvents {
    error: [error: Error];
    stanza: [stanza: Element];
    /** Top-level elements that are not stanzas (stream features, SASL, stream errors). */
    nonza: [element: Element];
    status: [status: ClientStatus, detail?: unknown];
    online: [jid: JID];
    disconnect: [detail: { readonly clean: boolean; readonly reason?: unknown }];
  }

  export interface Client extends EventEmitter<ClientEvents> {
    readonly status: ClientStatus;
    /** The bound full JID once online. */
    readonly jid: JID | null;
    /** Tried in order by connect(); unshift one of your own to take precedence. */
    readonly transports: TransportClass[];
    /** Redials every second after a disconnect; stop() it to redial your own way. */
    readonly reconnect: { stop(): void };
    readonly iqCaller: {
      /** Sends `<iq type="set" to=...>` with the element; resolves with the reply's child of the same name. */
      set(element: Element, to?: string, timeoutMs?: number): Promise<Element | undefined>;
      /** The same with `<iq type="get">` (the keepalive's XEP-0199 ping). */
      get(element: Element, to?: string, timeoutMs?: number): Promise<Element | undefined>;
    };
    /** Connects, negotiates the stream, logs in and binds; resolves online, rejects on 'error'. */
    start(): Promise<JID>;
    /** Closes the stream and the socket. */
    stop(): Promise<unknown>;
    send(element: Element): Promise<void>;
    isSecure(): boolean;
  }

  export function client(options: ClientOptions): Client;
}
