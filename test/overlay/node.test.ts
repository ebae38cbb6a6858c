/**
 * The node's composition (overlay/node.ts) on stand-ins, without root: in-memory ports for the TAP and
 * the links, a recording signaling client and link manager, the real datapath, the real in-tree
 * controller with BoundedFlood (joined in-process), and the real state files (node id, certificate).
 * It shows:
 * - start-up: StateDir/nid made once and reused, the certificate made, the TAP configured and added as
 *   port 1, the switch connected to its controller, and signaling started last;
 * - policy: a static peer is asked for an edge (TOP_NEGOTIATE_EDGE) when present and then dialled;
 * - links: 'up' adds the link's port, a broadcast from the TAP leaves on it in BoundedFlood's header,
 *   and a frame from the peer reaches the TAP; 'down' removes the port;
 * - a link whose port the datapath already dropped ('gone') while its number went to a newer link: the
 *   late 'down' leaves the newer link's port alone;
 * - stop: links closed, signaling stopped, TAP closed, in that order;
 * - the fingerprint test hook announces another fingerprint than the certificate's.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nullLogger } from '../../base/logger.js';
import type { LinkInfo, LinkManagerOptions } from '../../link/manager.js';
import { resolveNodeConfig } from '../../overlay/config.js';
import { type NodeLinkManager, type NodeParts, type NodeSignal, NodeError, OverlayNode, ensureNodeId } from '../../overlay/node.js';
import { MemoryPort } from '../../switch/memory-port.js';
import type { FramePort } from '../../switch/port.js';
import { waitFor } from '../helpers/wait.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';

class FakeSignal implements NodeSignal {
  presence: ((peer: string, present: boolean) => void) | undefined;
  readonly requests: { peer: string; action: string }[] = [];
  constructor(private readonly events: string[]) {}
  start(): Promise<void> {
    this.events.push('signal start');
    return Promise.resolve();
  }
  stop(): Promise<void> {
    this.events.push('signal stop');
    return Promise.resolve();
  }
  onPresence(fn: (peer: string, present: boolean) => void): void {
    this.presence = fn;
  }
  online(): boolean {
    return true;
  }
  onFatal(): void {}
  request(peer: string, action: string): Promise<unknown> {
    this.requests.push({ peer, action });
    return Promise.resolve({ is_accepted: true, edge_type: 'CETypeStatic' });
  }
  onRequest(): unknown {
    return undefined;
  }
}

class FakeLinks extends EventEmitter implements NodeLinkManager {
  readonly connects: string[] = [];
  readonly up = new Map<string, { info: LinkInfo; port: FramePort }>();
  constructor(
    readonly opts: LinkManagerOptions,
    private readonly events: string[],
  ) {
    super();
  }
  start(): void {}
  connect(peer: string): Promise<LinkInfo> {
    this.connects.push(peer);
    return new Promise(() => undefined); // settled by nobody: the test drives 'up' itself
  }
  links(): LinkInfo[] {
    return [...this.up.values()].map((u) => u.info);
  }
  disconnect(peer: string, reason = 'disconnected'): void {
    for (const [id, u] of this.up) if (u.info.peerId === peer) this.bringDown(id, reason);
  }
  bringUp(peer: string, linkId: string): MemoryPort {
    const port = new MemoryPort({ name: `tf${peer.slice(0, 10)}`, mtu: 1400 });
    const info: LinkInfo = { peerId: peer, linkId, role: 'initiator', state: 'up', portName: port.name, setupMs: 5 };
    this.up.set(linkId, { info, port });
    this.emit('up', info, port);
    return port;
  }
  bringDown(linkId: string, reason: string): void {
    const u = this.up.get(linkId);
    if (u === undefined) throw new Error(`no link ${linkId}`);
    this.up.delete(linkId);
    u.port.close();
    this.emit('down', { ...u.info, state: 'closed' }, reason);
  }
  close(): Promise<void> {
    this.events.push('links close');
    for (const id of [...this.up.keys()]) this.bringDown(id, 'its link manager closed');
    return Promise.resolve();
  }
}

function frame(src: number, dst = 'ffffffffffff'): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from(dst, 'hex').copy(f, 0);
  Buffer.from(`02000000000${src}`, 'hex').copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  return f;
}

describe('overlay node composition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-node-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startNode(opts: { fakeFingerprint?: boolean; state?: string } = {}): Promise<{ node: OverlayNode; tap: MemoryPort; signal: FakeSignal; links: () => FakeLinks; events: string[]; clock: { t: number } }> {
    const events: string[] = [];
    const signal = new FakeSignal(events);
    const tap = new MemoryPort({ name: 'tf-lab', mtu: 1350 });
    let links: FakeLinks | undefined;
    const parts: NodeParts = {
      signal: () => signal,
      linkManager: (o) => (links = new FakeLinks(o, events)),
      openTap: (name) => {
        events.push(`open tap ${name}`);
        tap.on('gone', () => undefined);
        const close = tap.close.bind(tap);
        tap.close = () => {
          if (!tap.closed) events.push('tap close');
          close();
        };
        return tap;
      },
      configureTap: (cfg) => events.push(`configure tap ${cfg.name} ${cfg.ip4 ?? '-'}/${cfg.prefixLen} mtu ${cfg.mtu}`),
    };
    const config = resolveNodeConfig(
      { Overlay: 'lab', Signal: { Username: 'node-a@natlab.test', Password: 'pw' }, AppBridge: { IP4: '10.10.10.1', MTU: 1350 }, Topology: { StaticEdges: [B] }, StateDir: opts.state ?? 'state' },
      { baseDir: dir },
    );
    const clock = { t: 1000 };
    const node = await OverlayNode.start({ config, parts, log: nullLogger, now: () => clock.t, fakeFingerprint: opts.fakeFingerprint ?? false });
    if (links === undefined) throw new Error('no link manager made');
    const made = links;
    return { node, tap, signal, links: () => made, events, clock };
  }

  it('starts: node id made once and reused, certificate made, TAP configured and port 1, signaling last', async () => {
    const { node, events } = await startNode();
    const nid = readFileSync(join(dir, 'state', 'nid'), 'utf8').trim();
    expect(nid).toMatch(/^[0-9a-f]{32}$/);
    expect(node.nodeId).toBe(nid);
    expect(node.cert.fingerprint).toMatch(/^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(events).toEqual(['open tap tf-lab', 'configure tap tf-lab 10.10.10.1/24 mtu 1350', 'signal start']);
    const s = node.status();
    expect(s.ports).toEqual([{ no: 1, name: 'tf-lab', peer: undefined }]);
    expect(s.controller).toEqual({ kind: 'in-tree', target: 'in-process', connected: true });
    await waitFor('the switch connected to its controller', () => node.status().controller.connected);
    expect(s.recursionGuard).toEqual({ network: '10.10.10.0/24', candidatesDropped: 0 });
    await node.stop();
    const again = await startNode();
    expect(again.node.nodeId).toBe(nid);
    expect(again.node.cert.fingerprint).toBe(node.cert.fingerprint);
    await again.node.stop();
  });

  /** Presence of B, then the node asks it for an edge and dials it. */
  async function dialled(signal: FakeSignal, links: () => FakeLinks): Promise<void> {
    signal.presence?.(B, true);
    await waitFor('B dialled', () => links().connects.includes(B));
    expect(signal.requests).toEqual([{ peer: B, action: 'TOP_NEGOTIATE_EDGE' }]);
  }

  it('negotiates and dials a static peer when present; a link up is a port, frames flow, a link down is removed', async () => {
    const { node, tap, signal, links, clock } = await startNode({ state: 'state2' });
    await waitFor('the switch connected to its controller', () => node.status().controller.connected);
    await dialled(signal, links);
    clock.t = 1420;
    const port = links().bringUp(B, 'link1');
    let s = node.status();
    expect(s.ports).toEqual([{ no: 1, name: 'tf-lab', peer: undefined }, { no: 2, name: 'tfb000000000', peer: B }]);
    expect(s.links).toMatchObject([{ peerId: B, linkId: 'link1', port: 2, setupMs: 5 }]);
    expect(s.topology.edges).toMatchObject([{ peer: B, type: 'static', dir: 'out', state: 'connected' }]);
    // A broadcast from the host goes out on the link in BoundedFlood's header (EtherType 0xC0C0), the
    // host's frame inside; a frame from the peer reaches the host.
    await waitFor('BoundedFlood knows the link port', () => (node.status().flood?.packetIns ?? -1) >= 0);
    tap.inject([frame(1)]);
    const out = await waitFor('the broadcast on the link', () => {
      const f = port.take();
      return f.length > 0 ? f : undefined;
    });
    expect(out.map((f) => f.readUInt16BE(12))).toEqual([0xc0c0]);
    expect(out[0]?.subarray(14 + 35).toString('hex', 6, 12)).toBe('020000000001');
    port.inject([frame(2, '020000000001')]);
    const back = await waitFor('the answer at the host', () => {
      const f = tap.take();
      return f.length > 0 ? f : undefined;
    });
    expect(back.map((f) => f.toString('hex', 6, 12))).toEqual(['020000000002']);
    links().bringDown('link1', 'no echo reply for 3000 ms');
    s = node.status();
    expect(s.ports).toEqual([{ no: 1, name: 'tf-lab', peer: undefined }]);
    expect(s.topology.edges).toEqual([]);
    await node.stop();
  });

  it('a late down for a link whose port number went to a newer link leaves the newer port alone', async () => {
    const { node, signal, links } = await startNode({ state: 'state3' });
    await dialled(signal, links);
    const old = links().bringUp(B, 'old');
    expect(node.status().ports.map((p) => p.no)).toEqual([1, 2]);
    old.vanish('the connection failed'); // the datapath drops port 2 on 'gone'
    expect(node.status().ports.map((p) => p.no)).toEqual([1]);
    links().bringUp(B, 'new'); // takes the free number 2
    links().bringDown('old', 'the link is gone');
    const s = node.status();
    expect(s.ports).toEqual([{ no: 1, name: 'tf-lab', peer: undefined }, { no: 2, name: 'tfb000000000', peer: B }]);
    expect(s.links).toMatchObject([{ linkId: 'new', port: 2 }]);
    await node.stop();
  });

  it('stops in reverse order: links, signaling, then the TAP', async () => {
    const { node, signal, links, events } = await startNode({ state: 'state4' });
    await dialled(signal, links);
    links().bringUp(B, 'l');
    events.length = 0;
    await node.stop();
    expect(events).toEqual(['links close', 'signal stop', 'tap close']);
    await node.stop(); // idempotent
    expect(events).toHaveLength(3);
  });

  it('the test hook announces another fingerprint than the certificate\'s', async () => {
    const { node, links } = await startNode({ state: 'state5', fakeFingerprint: true });
    const announced = links().opts.cert.fingerprint;
    expect(announced).not.toBe(node.cert.fingerprint);
    expect(announced.slice(0, -2)).toBe(node.cert.fingerprint.slice(0, -2));
    expect(links().opts.cert.certPath).toBe(node.cert.certPath);
    await node.stop();
  });

  it('node ids: the config\'s wins; a nid file that is not one is refused, naming it', () => {
    const d = mkdtempSync(join(dir, 'nid-'));
    expect(ensureNodeId(d, A, nullLogger)).toBe(A);
    writeFileSync(join(d, 'nid'), 'not-an-id\n');
    expect(() => ensureNodeId(d, undefined, nullLogger)).toThrow(NodeError);
    expect(() => ensureNodeId(d, undefined, nullLogger)).toThrow(`${join(d, 'nid')} does not hold a node id`);
  });
});
