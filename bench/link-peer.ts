/**
 * Bench harness, not a product: one tinflow node as bench/link.ts needs it, until `tinflow node` (with
 * XMPP signaling and the link manager) replaces it. It runs inside a network namespace:
 *
 *   TAP (the application's side, addressed)  ── port 1 ─┐
 *                                                       ├─ Datapath, fail-mode standalone (MAC learning)
 *   TinCanLink to the other peer              ── port 2 ─┘
 *
 * Signaling is JSON lines: what this peer has for the other one goes to stdout, what the other one sent
 * comes on stdin; the parent relays them unchanged. Logs go to stderr. The peer ends on {"t":"exit"},
 * SIGTERM, SIGINT, or stdin closing (the parent is gone), closing the link and the TAP first, so that
 * `node --cpu-prof` gets to write its profile.
 *
 * Usage: node dist/bench/link-peer.js --role initiator|responder --tap NAME --addr 10.77.0.1/24
 *          --bind 10.76.0.1 [--offload] [--mtu 1400] [--log-level warn]
 *
 * Messages out: offer / answer {sdp, fingerprint}, cand {c}, up {setupMs}, stats {link, tap},
 * error {message}. In: offer / answer (from the other peer), cand {c}, stats, exit.
 */
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel, createLogger } from '../base/logger.js';
import { resolveLinkConfig } from '../link/config.js';
import { type IceCandidate, type LinkRole, TinCanLink, cleanupWebRtc } from '../link/tincan.js';
import { Datapath } from '../switch/datapath.js';
import { openTap } from '../switch/portio/index.js';

interface Msg {
  readonly t: string;
  readonly [k: string]: unknown;
}

const { values } = parseArgs({
  options: {
    role: { type: 'string' },
    tap: { type: 'string' },
    addr: { type: 'string' },
    bind: { type: 'string' },
    offload: { type: 'boolean', default: false },
    mtu: { type: 'string', default: '1400' },
    'log-level': { type: 'string', default: 'warn' },
  },
});

function need(v: string | undefined, flag: string): string {
  if (v === undefined || v === '') throw new Error(`link-peer: --${flag} is required`);
  return v;
}

const role = need(values.role, 'role');
if (role !== 'initiator' && role !== 'responder') throw new Error(`link-peer: --role ${role}: expected initiator or responder`);
const level = values['log-level'];
if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`link-peer: --log-level ${level}: expected one of ${LOG_LEVELS.join(', ')}`);
const tapName = need(values.tap, 'tap');
const addr = need(values.addr, 'addr');
const bind = need(values.bind, 'bind');
const mtu = Number(values.mtu);

const log = createLogger({ level: level as LogLevel, base: { peer: role } });
const out = (m: Msg): void => void process.stdout.write(`${JSON.stringify(m)}\n`);

// Standalone with no controller attached: the datapath learns MACs and floods the rest, as OVS does in
// fail-mode standalone while no controller is connected.
const dp = new Datapath({ name: `bench-${role.slice(0, 4)}`, dpid: role === 'initiator' ? 1n : 2n, tables: 1, failMode: 'standalone', log });
const tap = openTap(tapName, { offload: values.offload });
// The TAP carries what the link carries: a larger host MTU would make every full-sized frame a link drop.
execFileSync('ip', ['link', 'set', 'dev', tapName, 'mtu', String(mtu), 'up']);
execFileSync('ip', ['addr', 'add', addr, 'dev', tapName]);
dp.addPort(tap, 1);

const t0 = performance.now();
const link = new TinCanLink({
  name: 'link',
  role: role as LinkRole,
  // echoes once a second as by default; generous liveness, the machine is loaded on purpose
  config: resolveLinkConfig({ bindAddress: bind, mtu, timeoutMs: 20_000, setupTimeoutMs: 30_000 }),
  peer: role === 'initiator' ? 'responder' : 'initiator',
  log,
});
link.signals.on('candidate', (c) => out({ t: 'cand', c }));
link.once('gone', (reason) => {
  out({ t: 'error', message: `the link is gone: ${reason}` });
  void shutdown(1);
});
dp.addPort(link, 2);
void link.whenUp().then(
  () => out({ t: 'up', setupMs: Math.round(performance.now() - t0) }),
  () => undefined, // 'gone' reported it
);

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  dp.stop(); // closes the TAP (it disappears) and the link (the peer is told)
  // let the goodbye leave before libdatachannel's threads end
  await new Promise((r) => setTimeout(r, 50));
  cleanupWebRtc();
  process.exit(code);
}

function fail(e: unknown): void {
  out({ t: 'error', message: e instanceof Error ? e.message : String(e) });
  void shutdown(1);
}

async function onMessage(m: Msg): Promise<void> {
  switch (m.t) {
    case 'offer': {
      const a = await link.acceptOffer(String(m.sdp), String(m.fingerprint));
      out({ t: 'answer', sdp: a.sdp, fingerprint: a.fingerprint });
      return;
    }
    case 'answer':
      link.applyAnswer(String(m.sdp), String(m.fingerprint));
      return;
    case 'cand':
      link.addRemoteCandidate(m.c as IceCandidate);
      return;
    case 'stats':
      out({ t: 'stats', link: link.stats(), tap: tap.counters() });
      return;
    case 'exit':
      await shutdown(0);
      return;
    default:
      throw new Error(`link-peer: unknown message type ${JSON.stringify(m.t)}`);
  }
}

createInterface({ input: process.stdin })
  .on('line', (l) => {
    let m: Msg;
    try {
      m = JSON.parse(l) as Msg;
    } catch {
      fail(new Error(`link-peer: stdin line is not JSON: ${l.slice(0, 80)}`));
      return;
    }
    onMessage(m).catch(fail);
  })
  .on('close', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));

if (role === 'initiator') {
  link.createOffer().then((o) => out({ t: 'offer', sdp: o.sdp, fingerprint: o.fingerprint }), fail);
}
