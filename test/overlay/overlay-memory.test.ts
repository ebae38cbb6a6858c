/**
 * Whole overlay nodes (overlay/node.ts) in one process, without root: each node's real datapath, real
 * in-tree controller (over TCP on 127.0.0.1) running BoundedFlood, and real TopologyDriver; what talks to
 * the world is in memory: signaling is a bus (requests as JSON, presence as events), a link is a pair of
 * wired memory ports, and each application TAP is a memory port the test injects into and reads from.
 * The same composition runs with real XMPP, TinCan links and TAPs behind NAT routers in
 * overlay-natlab.test.ts; here the overlay's logic is shown on its own, quickly:
 *
 * - the overlay forms by itself from presence alone: every node gets its successor edges, no pair has
 *   two links, the graph is connected, and no link exists that the two ends did not negotiate;
 * - one broadcast from any node's TAP reaches every other node's TAP exactly once;
 * - unicast answers go back along learnt paths (flows installed), between every pair;
 * - a node stopped: the others drop their edges with it, re-form the ring and still reach each other;
 *   restarted with the same id, it rejoins;
 * - on-demand edges: on a ring (one successor, no long-distance edges), a heavy flow between two nodes
 *   three hops apart makes BoundedFlood's traffic analyzer want a link, and the topology makes it.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createLogger, nullLogger } from '../../base/logger.js';
import type { LinkInfo, LinkManagerOptions } from '../../link/manager.js';
import { resolveNodeConfig } from '../../overlay/config.js';
import { type NodeLinkManager, type NodeParts, type NodeSignal, OverlayNode } from '../../overlay/node.js';
import { MemoryPort, wire } from '../../switch/memory-port.js';
import { FakeBus } from '../link/manager-bus.js';
import { rng } from '../helpers/rng.js';
import { waitFor } from '../helpers/wait.js';

/** Presence for every node on one bus, as the XMPP room gives it. */
class Room extends EventEmitter<{ presence: [peer: string, present: boolean] }> {
  readonly here = new Set<string>();
  join(id: string): void {
    this.here.add(id);
    this.emit('presence', id, true);
  }
  leave(id: string): void {
    this.here.delete(id);
    this.emit('presence', id, false);
  }
}

/** Links between nodes as wired memory ports; a link needs the other end's authorization, as LNK_AUTH_TUNNEL. */
class Fabric {
  readonly managers = new Map<string, MemLinks>();
}

class MemLinks extends EventEmitter implements NodeLinkManager {
  private readonly up = new Map<string, { info: LinkInfo; port: MemoryPort }>();
  private closed = false;
  private seq = 0;
  constructor(
    readonly opts: LinkManagerOptions,
    private readonly fabric: Fabric,
  ) {
    super();
    fabric.managers.set(opts.nodeId, this);
  }
  start(): void {}
  connect(peer: string): Promise<LinkInfo> {
    const other = this.fabric.managers.get(peer);
    if (other === undefined || other.closed) return Promise.reject(new Error(`no node ${peer}`));
    const why = other.opts.authorize?.(this.opts.nodeId);
    if (why !== undefined) return Promise.reject(new Error(`refused: unauthorized: ${why}`));
    if (this.up.has(peer)) return Promise.resolve((this.up.get(peer) as { info: LinkInfo }).info);
    const linkId = `${this.opts.nodeId.slice(0, 4)}-${peer.slice(0, 4)}-${++this.seq}`;
    const mine = new MemoryPort({ name: `tf${peer.slice(0, 10)}`, mtu: 1500 });
    const theirs = new MemoryPort({ name: `tf${this.opts.nodeId.slice(0, 10)}`, mtu: 1500 });
    wire(mine, theirs);
    const info = this.add(peer, linkId, 'initiator', mine);
    other.add(this.opts.nodeId, linkId, 'responder', theirs);
    return Promise.resolve(info);
  }
  private add(peer: string, linkId: string, role: 'initiator' | 'responder', port: MemoryPort): LinkInfo {
    const info: LinkInfo = { peerId: peer, linkId, role, state: 'up', portName: port.name, setupMs: 1 };
    this.up.set(peer, { info, port });
    setImmediate(() => this.emit('up', info, port));
    return info;
  }
  disconnect(peer: string, reason = 'disconnected'): void {
    this.drop(peer, reason);
    this.fabric.managers.get(peer)?.drop(this.opts.nodeId, `the peer: ${reason}`);
  }
  private drop(peer: string, reason: string): void {
    const u = this.up.get(peer);
    if (u === undefined) return;
    this.up.delete(peer);
    this.emit('down', { ...u.info, state: 'closed' }, reason);
  }
  links(): LinkInfo[] {
    return [...this.up.values()].map((u) => u.info);
  }
  close(): Promise<void> {
    this.closed = true;
    for (const peer of [...this.up.keys()]) this.disconnect(peer, 'node stopping');
    this.fabric.managers.delete(this.opts.nodeId);
    return Promise.resolve();
  }
}

interface Running {
  readonly id: string;
  readonly node: OverlayNode;
  readonly tap: MemoryPort;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ids(n: number, seed: number): string[] {
  const r = rng(seed);
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 32 }, () => Math.floor(r() * 16).toString(16)).join(''));
  return [...out];
}

const BROADCAST = Buffer.from('ffffffffffff', 'hex');

/** An ARP request frame from mac (who-has 10.0.0.x), with a marker in its padding to tell copies apart. */
function arpFrom(mac: string, marker: number): Buffer {
  const f = Buffer.alloc(60);
  BROADCAST.copy(f, 0);
  Buffer.from(mac.replace(/:/g, ''), 'hex').copy(f, 6);
  f.writeUInt16BE(0x0806, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  Buffer.from(mac.replace(/:/g, ''), 'hex').copy(f, 22);
  f.writeUInt32BE(marker, 56);
  return f;
}

function unicast(dst: string, src: string, marker: number): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from(dst.replace(/:/g, ''), 'hex').copy(f, 0);
  Buffer.from(src.replace(/:/g, ''), 'hex').copy(f, 6);
  f.writeUInt16BE(0x88b5, 12); // local experimental ethertype
  f.writeUInt32BE(marker, 56);
  return f;
}

function received(tap: MemoryPort, marker: number): number {
  return tap.sent.filter((s) => s.frame.length >= 60 && s.frame.readUInt32BE(s.frame.length - 4) === marker).length;
}

describe('an overlay of whole nodes, in memory', () => {
  const room = new Room();
  const bus = new FakeBus();
  const fabric = new Fabric();
  const running = new Map<string, Running>();

  async function start(id: string, sections: Record<string, unknown> = { Topology: { MinConnectedMs: 0 } }): Promise<Running> {
    let dir = dirs.find((d) => d.endsWith(id.slice(0, 8)));
    if (dir === undefined) {
      dir = mkdtempSync(join(tmpdir(), `tinflow-overlay-${id.slice(0, 8)}`));
      dirs.push(dir);
    }
    const config = resolveNodeConfig({
      NodeId: id,
      Overlay: 'mem',
      Signal: { Username: `${id.slice(0, 8)}@example.org`, Password: 'x', Tls: 'none' },
      ...sections,
      StateDir: dir,
    });
    let tap: MemoryPort | undefined;
    const parts: NodeParts = {
      signal: (): NodeSignal => {
        let presence: ((peer: string, present: boolean) => void) | undefined;
        const onRoom = (peer: string, present: boolean): void => presence?.(peer, present);
        const s = bus.node(id);
        return {
          start: () => {
            room.on('presence', onRoom);
            for (const p of room.here) presence?.(p, true);
            room.join(id);
            return Promise.resolve();
          },
          stop: () => {
            room.leave(id);
            room.off('presence', onRoom);
            return Promise.resolve();
          },
          onPresence: (fn) => {
            presence = fn;
          },
          online: () => true,
          onFatal: () => undefined,
          request: (peer, action, params, opts) => s.request(peer, action, params, opts),
          onRequest: (action, handler) => s.onRequest(action, handler),
        };
      },
      linkManager: (opts) => new MemLinks(opts, fabric),
      openTap: (name) => (tap = new MemoryPort({ name, mtu: 1400 })),
      configureTap: () => undefined,
    };
    const node = await OverlayNode.start({ config, parts, log: process.env.DEBUG_OVERLAY ? createLogger({ level: 'info', base: { n: id.slice(0, 4) } }) : nullLogger, topologyTickMs: 200 });
    const r = { id, node, tap: tap as MemoryPort };
    running.set(id, r);
    return r;
  }

  afterEach(async () => {
    for (const r of running.values()) await r.node.stop();
    running.clear();
  });

  /** Every running node has its successor edges connected, and the links form one connected graph. */
  function formed(successors = 2): boolean {
    const nodes = [...running.values()];
    const want = Math.min(successors, nodes.length - 1);
    for (const r of nodes) {
      const s = r.node.status();
      const connected = s.topology.edges.filter((e) => e.state === 'connected').map((e) => e.peer);
      if (!s.topology.successors.slice(0, want).every((p) => connected.includes(p))) return false;
      if (s.topology.successors.length < want) return false;
      if (!s.controller.connected) return false;
    }
    return true;
  }

  /** Each node's view, for a failure message. */
  function picture(): string {
    return [...running.values()].map((r) => {
      const s = r.node.status();
      return `${r.id.slice(0, 4)}: succ ${s.topology.successors.map((p) => p.slice(0, 4)).join(',')} edges ${s.topology.edges.map((e) => `${e.peer.slice(0, 4)}/${e.type}/${e.dir}/${e.state}`).join(' ')} ctl ${s.controller.connected} backoff ${JSON.stringify(s.topology.backoff)}`;
    }).join('\n');
  }

  async function broadcastReachesAllOnce(from: Running, marker: number): Promise<void> {
    from.tap.inject([arpFrom(from.tap.hwAddr, marker)]);
    const others = [...running.values()].filter((r) => r !== from);
    await waitFor(`broadcast ${marker} everywhere`, () => others.every((r) => received(r.tap, marker) >= 1), 10_000);
    await new Promise((r) => setTimeout(r, 100)); // any duplicate would have arrived by now
    for (const r of others) expect(received(r.tap, marker), `copies at ${r.id}`).toBe(1);
    expect(received(from.tap, marker)).toBe(0);
  }

  it('forms by itself; broadcasts reach every node once; unicast between every pair; a node stopped and restarted', async () => {
    const all = ids(7, 13);
    for (const id of all) await start(id);
    await waitFor('the overlay formed', formed, 20_000, { detail: picture });
    // Every link was agreed by both ends (the fabric asks authorize()), each end holds an edge for it,
    // and both ends see it.
    for (const r of running.values()) {
      const s = r.node.status();
      for (const l of s.links) {
        expect(s.topology.edges.map((e) => e.peer)).toContain(l.peerId);
        expect((running.get(l.peerId) as Running).node.status().links.map((x) => x.peerId)).toContain(r.id);
      }
    }

    let marker = 1;
    for (const r of running.values()) await broadcastReachesAllOnce(r, marker++);

    // Unicast between every ordered pair: each has learnt the others' MACs from the broadcasts.
    const nodes = [...running.values()];
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const m = marker++;
        a.tap.inject([unicast(b.tap.hwAddr, a.tap.hwAddr, m)]);
        await waitFor(`unicast ${a.id.slice(0, 4)} → ${b.id.slice(0, 4)}`, () => received(b.tap, m) === 1, 5000);
      }
    }
    for (const r of nodes) expect(r.node.status().flows).toBeGreaterThan(2);

    // One node stops: the rest re-form and still reach each other, once each.
    const gone = nodes[3] as Running;
    await gone.node.stop();
    running.delete(gone.id);
    await waitFor('the overlay re-formed without one node', formed, 20_000, { detail: picture });
    for (const r of running.values()) await broadcastReachesAllOnce(r, marker++);

    // It comes back with the same id and rejoins.
    await start(gone.id);
    await waitFor('the overlay re-formed with the node back', formed, 20_000, { detail: picture });
    for (const r of running.values()) await broadcastReachesAllOnce(r, marker++);
  }, 120_000);

  it('a heavy flow between two nodes that are not linked gets them an on-demand edge', async () => {
    const all = ids(6, 21).sort();
    const sections = {
      Topology: { MinSuccessors: 1, MaxLongDistEdges: 0, MaxOnDemandEdges: 1, DemandThreshold: 20_000, MinConnectedMs: 0 },
      BoundedFlood: { TrafficAnalysisInterval: 1 },
    };
    for (const id of all) await start(id, sections);
    await waitFor('a ring of six', () => formed(1), 20_000, { detail: picture });
    // In ring order, node 0 and node 3 are three hops apart, with no edge between them.
    const a = running.get(all[0] as string) as Running;
    const d = running.get(all[3] as string) as Running;
    expect(a.node.status().topology.edges.map((e) => e.peer)).not.toContain(d.id);
    let marker = 1000;
    await broadcastReachesAllOnce(a, marker++);
    await broadcastReachesAllOnce(d, marker++);
    // A first frame from a's host to d's host installs the learnt flow; then 60 frames of 1000 bytes that
    // the flow carries (its counters are what the traffic analyzer reads).
    const first = marker++;
    a.tap.inject([unicast(d.tap.hwAddr, a.tap.hwAddr, first)]);
    await waitFor('the first frame at d', () => received(d.tap, first) === 1, 5000);
    const big = Buffer.alloc(1000);
    unicast(d.tap.hwAddr, a.tap.hwAddr, 0).copy(big);
    for (let i = 0; i < 60; i++) a.tap.inject([big]);
    const edge = await waitFor('an on-demand edge between a and d', () => a.node.status().topology.edges.find((e) => e.peer === d.id && e.state === 'connected'), 15_000, { detail: picture });
    expect(edge.type).toBe('onDemand');
    // And the path is direct now: a unicast from a reaches d over the new link.
    const m = marker++;
    a.tap.inject([unicast(d.tap.hwAddr, a.tap.hwAddr, m)]);
    await waitFor('unicast a → d', () => received(d.tap, m) === 1, 5000);
  }, 60_000);
});
