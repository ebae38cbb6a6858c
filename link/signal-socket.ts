/**
 * The byte stream under the XMPP client: TCP, TLS from the first byte ("direct TLS", XEP-0368), or
 * STARTTLS, with an optional CA file, handed to @xmpp/client as its socket (link/xmpp.d.ts describes the
 * hook). Why our own: the library's TLS and STARTTLS call tls.connect with no way to pass a CA (only
 * NODE_EXTRA_CA_CERTS at process start would do), and its data events cut UTF-8 characters that span
 * two TCP reads (it decodes each chunk on its own); this socket decodes with a streaming decoder.
 *
 * STARTTLS is done here, before the client sees the connection: open a stream, read the features,
 * `<starttls/>`, wait for `<proceed/>`, TLS. The client then opens its stream on a socket that is already
 * secure, as RFC 6120 §5.4.3.3 has every client do after TLS, and logs in with the library's strongest
 * mechanism (it picks PLAIN-free mechanisms only when the socket is not secure). A server that offers no
 * STARTTLS is refused (never a silent fall-back to clear text).
 *
 * Certificates: the server must present one that chains to the CA file (or the system's CAs without
 * one) and names the XMPP domain (not the address dialled). Verification is done by hand on
 * 'secureConnect' (rejectUnauthorized: false, then `authorized` checked before a byte is written) so a
 * refused certificate is told apart from a network failure: it is fatal (SignalSocketError 'tls'),
 * where a refused connection is retried.
 *
 * May import: node: modules, @xmpp/client (its XML parser).
 */
import { EventEmitter } from 'node:events';
import { type Socket, connect as tcpConnect, isIP } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type Element, xml } from '@xmpp/client';

export type TlsMode = 'none' | 'starttls' | 'direct';

export interface SocketParams {
  readonly mode: TlsMode;
  /** Where to dial. */
  readonly host: string;
  readonly port: number;
  /** The XMPP domain: the stream's `to` and the name the certificate must carry. */
  readonly domain: string;
  /** CA certificates (PEM) to trust instead of the system's. */
  readonly ca: Buffer | undefined;
  /** TCP connect, TLS and STARTTLS together must be done within this (ms). */
  readonly timeoutMs: number;
}

/** 'tls': the certificate was refused or TLS is not offered (fatal). 'io': anything else (retry). */
export class SignalSocketError extends Error {
  override readonly name = 'SignalSocketError';
  constructor(
    readonly kind: 'tls' | 'io',
    message: string,
  ) {
    super(message);
  }
}

const NS_STREAM = 'http://etherx.jabber.org/streams';
const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';

interface SocketEvents {
  connect: [];
  data: [data: string];
  close: [hadError: boolean];
  error: [error: Error];
}

export class SignalSocket extends EventEmitter<SocketEvents> {
  /** Whether the stream the client sees is encrypted. */
  secure = false;
  /** The socket being read (TCP, then TLS over it after STARTTLS). */
  private active: Socket | TLSSocket | undefined;
  /** Set once the client may write: the socket it writes to. */
  private ready: Socket | TLSSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private closed = false;

  connect(params: SocketParams): void {
    const where = `${params.host}:${params.port}`;
    this.timer = setTimeout(() => this.fail(new SignalSocketError('io', `no ${params.mode === 'none' ? 'TCP' : 'TLS'} connection to ${where} within ${params.timeoutMs} ms`)), params.timeoutMs);
    if (params.mode === 'direct') {
      const s = tlsConnect({ ...this.tlsOptions(params), host: params.host, port: params.port });
      this.watch(s, where, params.domain);
      s.once('secureConnect', () => this.secured(s, params));
      return;
    }
    const s = tcpConnect({ host: params.host, port: params.port });
    this.watch(s, where, params.domain);
    s.once('connect', () => {
      if (params.mode === 'none') this.open(s, false);
      else this.startTls(s, params);
    });
  }

  write(data: string, done: (err?: Error | null) => void): void {
    if (!this.ready || this.closed) {
      done(new Error('signaling socket: not connected'));
      return;
    }
    this.ready.write(data, done);
  }

  /** Half-closes (the client's orderly stream close). */
  end(): void {
    this.active?.end();
  }

  /** Closes at once (a session being abandoned). */
  destroy(): void {
    this.active?.destroy();
  }

  private tlsOptions(params: SocketParams): { servername?: string; ca?: Buffer; rejectUnauthorized: false } {
    // rejectUnauthorized: false only defers the decision to secured(), which checks before any use.
    return { ...(isIP(params.domain) === 0 ? { servername: params.domain } : {}), ...(params.ca ? { ca: params.ca } : {}), rejectUnauthorized: false };
  }

  private watch(s: Socket, where: string, domain: string): void {
    this.active = s;
    s.on('error', (e: Error) => this.fail(this.classify(e, where, domain)));
    s.on('close', (hadError: boolean) => {
      if (s !== this.active) return; // the TCP socket under TLS closes along with it
      clearTimeout(this.timer);
      if (this.closed) return;
      this.closed = true;
      this.emit('close', hadError || this.failed);
    });
  }

  /**
   * A TLS handshake the server ends with an alert (it has no certificate for the domain, no protocol
   * version in common) or that gets no TLS back (a clear-text port) fails the same way every time: 'tls'.
   * Anything else (refused, reset, timed out) may pass: 'io'.
   */
  private classify(e: Error, where: string, domain: string): SignalSocketError {
    if (e instanceof SignalSocketError) return e;
    const code = 'code' in e && typeof e.code === 'string' ? e.code : '';
    if (this.ready === undefined && code.startsWith('ERR_SSL_')) {
      const hint = code === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' ? `: the server has no certificate for ${domain}` : code === 'ERR_SSL_WRONG_VERSION_NUMBER' ? ': no TLS there (a clear-text port?)' : '';
      return new SignalSocketError('tls', `TLS with ${where} for ${domain} failed (${code})${hint}`);
    }
    return new SignalSocketError('io', `signaling connection to ${where}: ${e.message}`);
  }

  /** Reports the first failure and closes; later ones are the same failure's echoes. */
  private fail(e: SignalSocketError): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    clearTimeout(this.timer);
    this.emit('error', e);
    this.active?.destroy();
  }

  private open(s: Socket | TLSSocket, secure: boolean): void {
    clearTimeout(this.timer);
    this.secure = secure;
    this.ready = s;
    s.setEncoding('utf8'); // a streaming decoder: characters split across reads stay whole
    s.on('data', (d: string) => this.emit('data', d));
    this.emit('connect');
  }

  private secured(s: TLSSocket, params: SocketParams): void {
    if (!s.authorized) {
      const why = String(s.authorizationError);
      const trust = params.ca ? 'the CA file' : "the system's CAs";
      this.fail(new SignalSocketError('tls', `TLS with ${params.host}:${params.port}: its certificate is not trusted for ${params.domain} (${why}; checked against ${trust})`));
      return;
    }
    this.open(s, true);
  }

  /** RFC 6120 §5.4: stream header, features with <starttls/>, <starttls/>, <proceed/>, then TLS. */
  private startTls(raw: Socket, params: SocketParams): void {
    const where = `${params.host}:${params.port}`;
    const parser = new xml.Parser();
    const decoder = new StringDecoder('utf8');
    const onData = (b: Buffer): void => parser.write(decoder.write(b));
    const stop = (e: SignalSocketError): void => {
      raw.off('data', onData);
      this.fail(e);
    };
    parser.on('error', (e) => stop(new SignalSocketError('io', `STARTTLS with ${where}: the server sent bad XML (${e.message})`)));
    parser.on('end', () => stop(new SignalSocketError('io', `STARTTLS with ${where}: the server closed the stream`)));
    parser.on('element', (el: Element) => {
      if (el.is('features', NS_STREAM)) {
        if (!el.getChild('starttls', NS_TLS)) {
          stop(new SignalSocketError('tls', `${where} (${params.domain}) does not offer STARTTLS; refusing to log in without TLS (use tls "none" only for a loopback test server)`));
          return;
        }
        raw.write(`<starttls xmlns='${NS_TLS}'/>`);
      } else if (el.is('proceed', NS_TLS)) {
        raw.off('data', onData);
        const s = tlsConnect({ ...this.tlsOptions(params), socket: raw });
        this.watch(s, where, params.domain);
        s.once('secureConnect', () => this.secured(s, params));
      } else if (el.is('failure', NS_TLS)) {
        stop(new SignalSocketError('tls', `${where} refused STARTTLS`));
      } else if (el.is('error', NS_STREAM)) {
        const condition = el.getChildElements()[0]?.name ?? 'unknown';
        stop(new SignalSocketError('io', `STARTTLS with ${where}: stream error ${condition}`));
      }
    });
    raw.on('data', onData);
    // The domain is a checked host name (signal-config.ts), so it needs no escaping here.
    raw.write(`<?xml version='1.0'?><stream:stream to='${params.domain}' version='1.0' xmlns='jabber:client' xmlns:stream='${NS_STREAM}'>`);
  }
}
