/**
 * An in-memory signaling bus for link manager tests: each node gets a SignalingLike whose requests
 * reach the other node's handlers on a later turn, in order per direction, as JSON (copied both ways,
 * as XMPP carries it). A test can see every message, drop one (the request then times out, as a lost
 * XMPP message does), lose its reply, change its params or reply, or answer in the peer's place.
 * The same tests run over real XMPP in manager-xmpp.test.ts; this bus only makes the faults exact.
 */
import type { SignalingLike } from '../../link/manager.js';

export interface BusMessage {
  readonly from: string;
  readonly to: string;
  readonly action: string;
  params: Record<string, unknown>;
}

/** What to do with a request: deliver it (params possibly changed), drop it, or lose its reply. */
export type Verdict =
  | { readonly deliver: true; readonly params?: Record<string, unknown>; readonly reply?: (reply: unknown) => unknown }
  | { readonly drop: 'request' | 'reply' }
  /** Answer in the peer's place; the peer never sees it. */
  | { readonly answer: unknown };

type Handler = (params: unknown, from: string) => unknown;

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

export class FakeBus {
  /** Every request, in the order sent, and what became of it. */
  readonly log: { msg: BusMessage; fate: 'delivered' | 'dropped' | 'reply lost' | 'answered by the test' | 'no handler'; reply?: unknown; at: number }[] = [];
  /** Decides each request's fate (default: deliver as is). */
  tap: (m: BusMessage) => Verdict = () => ({ deliver: true });
  private readonly handlers = new Map<string, Map<string, Handler>>();
  private seq = 0;

  node(id: string): SignalingLike {
    return {
      request: (to, action, params, opts) => this.request(id, to, action, params, opts.timeoutMs),
      onRequest: (action, handler) => {
        let m = this.handlers.get(id);
        if (m === undefined) this.handlers.set(id, (m = new Map()));
        m.set(action, handler);
      },
    };
  }

  /** The requests sent so far with this action (and from this node, if given). */
  sent(action: string, from?: string): BusMessage[] {
    return this.log.filter((l) => l.msg.action === action && (from === undefined || l.msg.from === from)).map((l) => l.msg);
  }

  private async request(from: string, to: string, action: string, params: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const msg: BusMessage = { from, to, action, params: JSON.parse(JSON.stringify(params)) as Record<string, unknown> };
    const entry: FakeBus['log'][number] = { msg, fate: 'delivered', at: ++this.seq };
    this.log.push(entry);
    const v = this.tap(msg);
    const lost = (): Promise<never> =>
      new Promise((_resolve, reject) => setTimeout(() => reject(new TimeoutError(`${action} to ${to}: no reply within ${timeoutMs} ms`)), timeoutMs).unref());
    await new Promise((r) => setImmediate(r));
    if ('answer' in v) {
      entry.fate = 'answered by the test';
      entry.reply = v.answer;
      return v.answer;
    }
    if ('drop' in v && v.drop === 'request') {
      entry.fate = 'dropped';
      return lost();
    }
    const handler = this.handlers.get(to)?.get(action);
    if (handler === undefined) {
      entry.fate = 'no handler';
      return lost();
    }
    const delivered = 'deliver' in v && v.params !== undefined ? v.params : msg.params;
    const raw = await handler(JSON.parse(JSON.stringify(delivered)), from);
    let reply: unknown = raw === undefined ? undefined : JSON.parse(JSON.stringify(raw));
    if ('deliver' in v && v.reply !== undefined) reply = v.reply(reply);
    entry.reply = reply;
    if ('drop' in v) {
      entry.fate = 'reply lost';
      return lost();
    }
    await new Promise((r) => setImmediate(r));
    return reply;
  }
}
