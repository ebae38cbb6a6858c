/**
 * No tunnel through itself. The application TAP has an address on the overlay (AppBridge.IP4), so
 * libdatachannel's ICE agent gathers it as a host candidate like any other, and peers gather theirs:
 * without a guard, ICE checks go to 10.10.10.x, which the node's own routes send into its TAP, through
 * the link being built (or another link), and out of the peer's TAP. Seen in the NAT lab: a link that
 * came up over srflx, then its own traffic tunnelled through itself, and 95 % of pings lost. EdgeVPN
 * guards against it with IgnoredNetInterfaces (and AllowRecursiveTunneling, off by default).
 *
 * The guard sits on the node's signaling: every ICE candidate whose address is inside the overlay's
 * IPv4 network is taken out of what goes to peers and of what comes from them (LNK_ADD_PEER_CAS
 * candidate lists, and `a=candidate` lines of any session description), so neither side ever sends a
 * check to an overlay address. A candidate list left empty is not sent (nor handed to the link
 * manager), and is answered as accepted: the peer has nothing to add.
 *
 * May import: base/, link/ (the signaling contract and the action names).
 */
import type { Logger } from '../base/logger.js';
import { parseIpv4 } from '../base/addr.js';
import { LNK } from '../link/handshake.js';
import type { SignalingLike } from '../link/manager.js';

export interface Ipv4Net {
  readonly network: number;
  readonly mask: number;
  readonly text: string;
}

function ipv4Number(s: string): number | undefined {
  try {
    const b = parseIpv4(s);
    return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
  } catch {
    return undefined;
  }
}

/** The network of ip/prefixLen. */
export function ipv4Net(ip: string, prefixLen: number): Ipv4Net {
  const n = ipv4Number(ip);
  if (n === undefined) throw new RangeError(`${JSON.stringify(ip)} is not an IPv4 address`);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 32) throw new RangeError(`prefix length ${prefixLen} is not 0..32`);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  const network = (n & mask) >>> 0;
  const text = `${[network >>> 24, (network >>> 16) & 0xff, (network >>> 8) & 0xff, network & 0xff].join('.')}/${prefixLen}`;
  return { network, mask, text };
}

/** The connection address of a candidate line (`[a=]candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ ...`). */
export function candidateAddress(line: string): string | undefined {
  const m = /^(?:a=)?candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ /.exec(line.trim());
  return m?.[1];
}

/** Whether a candidate line's address is inside net. */
export function inOverlay(line: string, net: Ipv4Net): boolean {
  const addr = candidateAddress(line);
  const n = addr === undefined ? undefined : ipv4Number(addr);
  return n !== undefined && ((n & net.mask) >>> 0) === net.network;
}

/** An SDP without the `a=candidate` lines whose address is inside net; `dropped` counts them. */
export function stripSdp(sdp: string, net: Ipv4Net, dropped: { n: number }): string {
  const lines = sdp.split(/(?<=\n)/);
  const kept = lines.filter((l) => {
    if (!l.startsWith('a=candidate:') || !inOverlay(l, net)) return true;
    dropped.n++;
    return false;
  });
  return kept.length === lines.length ? sdp : kept.join('');
}

/**
 * A copy of a JSON value with overlay candidates removed: candidate objects (`{candidate, mid}`) from
 * every list, overlay `a=candidate` lines from every `sdp` string. Anything else is returned as it is.
 */
export function stripValue(v: unknown, net: Ipv4Net, dropped: { n: number }, depth = 0): unknown {
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) {
      if (x !== null && typeof x === 'object' && !Array.isArray(x) && typeof (x as { candidate?: unknown }).candidate === 'string' && inOverlay((x as { candidate: string }).candidate, net)) {
        dropped.n++;
        continue;
      }
      out.push(stripValue(x, net, dropped, depth + 1));
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = k === 'sdp' && typeof x === 'string' ? stripSdp(x, net, dropped) : stripValue(x, net, dropped, depth + 1);
  return out;
}

function emptyCandidates(params: unknown): boolean {
  return params !== null && typeof params === 'object' && Array.isArray((params as { candidates?: unknown }).candidates) && (params as { candidates: unknown[] }).candidates.length === 0;
}

/** The guard's count, for the node's status. */
export interface RecursionGuardStats {
  readonly network: string;
  /** Candidates removed from what went to peers and from what came from them. */
  readonly candidatesDropped: number;
}

/**
 * A signaling client's request() and onRequest() with the guard in between (see above); stats() counts
 * what it kept out.
 */
export function guardSignaling(signal: SignalingLike, net: Ipv4Net, log: Logger): SignalingLike & { stats(): RecursionGuardStats } {
  const dropped = { n: 0 };
  const strip = (v: unknown, what: string): unknown => {
    const before = dropped.n;
    const out = stripValue(v, net, dropped);
    if (dropped.n > before) log.debug({ dropped: dropped.n - before, network: net.text, in: what }, 'overlay candidates kept out of signaling');
    return out;
  };
  return {
    async request(peer, action, params, opts) {
      const p = strip(params, `${action} to ${peer}`) as Record<string, unknown>;
      if (action === LNK.ADD_PEER_CAS && emptyCandidates(p)) return { status: 'accepted' };
      return strip(await signal.request(peer, action, p, opts), `the reply to ${action} from ${peer}`);
    },
    onRequest(action, handler) {
      return signal.onRequest(action, async (params: unknown, from: string) => {
        const p = strip(params, `${action} from ${from}`);
        if (action === LNK.ADD_PEER_CAS && emptyCandidates(p)) return { status: 'accepted' };
        return strip(await handler(p, from), `our reply to ${action}`);
      });
    },
    stats: () => ({ network: net.text, candidatesDropped: dropped.n }),
  };
}
