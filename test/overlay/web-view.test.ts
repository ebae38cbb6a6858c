/**
 * The overlay's web view (overlay/status-http.ts serveWebView and serveNodeStatus, overlay/web/): the page
 * and every file it loads (cytoscape from node_modules included), /view, the WebSocket /live following its
 * source, unreachable nodes instead of errors; and the page's pure logic (overlay/web/graph.js), which
 * turns the nodes' statuses into the overlay graph. No browser here: the browser test drives the demo.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CandidateSummary, LinkStatus, NodeStatus } from '../../overlay/node.js';
import {
  type StatusServer, type ViewEntry, type ViewNode, gatherViews, serveNodeStatus, serveWebView,
} from '../../overlay/status-http.js';
import { buildGraph, linkLabel, pathType, toElements } from '../../overlay/web/graph.js';
import { waitFor } from '../helpers/wait.js';

const A = 'a0000000000000000000000000000000';
const B = 'b0000000000000000000000000000000';
const C = 'c0000000000000000000000000000000';
const D = 'd0000000000000000000000000000000';

const cand = (type: string, address: string, port: number): CandidateSummary => ({ type, address, port });

interface LinkSpec {
  readonly peer: string;
  readonly linkId: string;
  readonly type: string;
  readonly dir: 'out' | 'in';
  readonly local: CandidateSummary;
  readonly remote: CandidateSummary;
  readonly tx?: number;
  readonly rx?: number;
  readonly state?: string;
}

function link(s: LinkSpec, port: number): LinkStatus {
  const tx = s.tx ?? 0;
  const rx = s.rx ?? 0;
  return {
    peerId: s.peer, linkId: s.linkId, role: s.dir === 'out' ? 'initiator' : 'responder', state: s.state ?? 'up', portName: `tf${s.peer.slice(0, 10)}`, port,
    setupMs: 40, seenToUpMs: 90, local: s.local, remote: s.remote, rttMs: 1.25,
    counters: { rxPackets: rx, rxBytes: rx * 100, rxDropped: 0, rxErrors: 0, txPackets: tx, txBytes: tx * 100, txDropped: 0, txErrors: 0 },
    edge: { type: s.type, dir: s.dir },
  };
}

function status(id: string, ip4: string, links: readonly LinkSpec[], extra: { available?: string[] } = {}): NodeStatus {
  return {
    nodeId: id, overlay: 'lab', jid: `${id.slice(0, 4)}@example.org`, fingerprint: 'sha-256 00', signalOnline: true,
    tap: { name: 'tf-lab', port: 1, hwAddr: '02:00:00:00:00:01', ip4, prefixLen: 24, mtu: 1350 },
    ports: [{ no: 1, name: 'tf-lab', peer: undefined }, ...links.map((l, i) => ({ no: i + 2, name: `tf${l.peer.slice(0, 10)}`, peer: l.peer }))],
    links: links.map((l, i) => link(l, i + 2)),
    topology: {
      ring: [A, B, C], successors: [], available: extra.available ?? [],
      edges: links.map((l) => ({ peer: l.peer, type: l.type as 'successor', dir: l.dir, state: 'connected' as const, forMs: 5000 })),
      backoff: [], changes: { add: 1, remove: 0, refusedOut: 0, refusedIn: 0 },
    },
    controller: { kind: 'in-tree', target: 'local', connected: true },
    flood: undefined,
    flows: 2,
    recursionGuard: undefined,
  };
}

/**
 * Three nodes: A–B a successor edge made by A, direct (host/host); B–C a successor made by B, through
 * NAT (srflx/host); C–A long-distance made by C, relayed. C also sees D on signaling (no status from D).
 * `sent` is what A has sent B so far.
 */
function overlay(sent: number): ViewNode[] {
  const h = (x: string): CandidateSummary => cand('host', `192.0.2.${x}`, 4000);
  return [
    {
      status: status(A, '10.10.10.1', [
        { peer: B, linkId: 'lab', type: 'successor', dir: 'out', local: h('1'), remote: h('2'), tx: sent, rx: 7 },
        { peer: C, linkId: 'lac', type: 'longDistance', dir: 'in', local: cand('host', '192.0.2.1', 4001), remote: cand('relay', '203.0.113.9', 3478), tx: 3, rx: 4 },
      ]),
      flows: ['table=0, priority=0 actions=CONTROLLER:65535', `table=0, priority=10, dl_dst=02:00:00:00:00:02 actions=output:2 n_packets=${sent}`],
    },
    {
      status: status(B, '10.10.10.2', [
        { peer: A, linkId: 'lab', type: 'successor', dir: 'in', local: h('2'), remote: h('1'), tx: 7, rx: sent },
        { peer: C, linkId: 'lbc', type: 'successor', dir: 'out', local: cand('srflx', '203.0.113.2', 5000), remote: cand('host', '203.0.113.3', 5001) },
      ]),
      flows: ['table=0, priority=0 actions=CONTROLLER:65535'],
    },
    {
      status: status(C, '10.10.10.3', [
        { peer: B, linkId: 'lbc', type: 'successor', dir: 'in', local: cand('host', '203.0.113.3', 5001), remote: cand('srflx', '203.0.113.2', 5000) },
        { peer: A, linkId: 'lac', type: 'longDistance', dir: 'out', local: cand('relay', '203.0.113.9', 3478), remote: cand('host', '192.0.2.1', 4001), tx: 4, rx: 3 },
      ], { available: [A, B, D] }),
      flows: [],
    },
  ];
}

/** JSON as the server sends it: what a client of /view or /live gets back. */
const wire = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** A WebSocket client of /live that keeps every message. */
async function liveClient(url: string): Promise<{ got: unknown[]; ws: WebSocket }> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/live`);
  const got: unknown[] = [];
  ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString())));
  await once(ws, 'open');
  return { got, ws };
}

describe('web view server', () => {
  const servers: StatusServer[] = [];
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    for (const s of servers.splice(0)) await s.close();
  });
  const serve = async (views: () => Promise<readonly ViewEntry[]>, intervalMs = 50): Promise<string> => {
    const s = await serveWebView({ views }, '127.0.0.1', 0, { intervalMs });
    servers.push(s);
    return s.url;
  };

  it('serves the page and every file it loads, with the right content types', async () => {
    const url = await serve(async () => overlay(1));
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '');
    expect(refs.sort()).toEqual(['assets/view.css', 'assets/view.js']);

    const css = await fetch(`${url}/assets/view.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);

    // view.js and everything it imports, followed as the browser would (relative to /assets/).
    const seen = new Map<string, string>();
    const queue = ['view.js'];
    while (queue.length > 0) {
      const name = queue.shift() ?? '';
      if (seen.has(name)) continue;
      const res = await fetch(`${url}/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toMatch(/^text\/javascript/);
      const text = await res.text();
      seen.set(name, text);
      for (const m of text.matchAll(/^import\b[^'"]*['"]\.\/([^'"]+)['"]/gm)) queue.push(m[1] ?? '');
    }
    expect([...seen.keys()].sort()).toEqual(['cytoscape.js', 'graph.js', 'view.js']);
    // cytoscape's ES module build, from the installed package
    expect(seen.get('cytoscape.js')).toMatch(/export\s*\{\s*\w+ as default\s*\}/);
    expect(seen.get('cytoscape.js')?.length).toBeGreaterThan(100_000);
  });

  it.each([
    ['graph.d.ts', 'a type file, not an asset'],
    ['..%2Fstatus-http.ts', 'a path out of the folder'],
    ['missing.js', 'no such file'],
  ])('answers 404 for /assets/%s (%s)', async (name) => {
    const url = await serve(async () => overlay(1));
    expect((await fetch(`${url}/assets/${name}`)).status).toBe(404);
  });

  it('/view returns the source\'s views', async () => {
    const url = await serve(async () => overlay(5));
    const res = await fetch(`${url}/view`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual(wire(overlay(5)));
  });

  it('/live pushes the views at once and again as the source changes', async () => {
    let sent = 1;
    const url = await serve(async () => overlay(sent));
    const c = await liveClient(url);
    sockets.push(c.ws);
    await waitFor('the first snapshot', () => c.got.length > 0);
    expect(c.got[0]).toEqual(wire(overlay(1)));
    sent = 42;
    const later = await waitFor('a snapshot with 42 frames sent', () => c.got.find((v) => JSON.stringify(v) === JSON.stringify(wire(overlay(42)))));
    expect(later).toEqual(wire(overlay(42)));
  });

  it('polls its source only while a /live client is connected', async () => {
    let calls = 0;
    const url = await serve(async () => (calls++, overlay(1)), 20);
    const c = await liveClient(url);
    await waitFor('several pushes', () => c.got.length >= 3);
    const closed = once(c.ws, 'close');
    c.ws.close();
    await closed;
    // Polling at 20 ms would add calls between two looks 300 ms apart; once stopped, none does.
    let before = -1;
    await waitFor('polling to stop', async () => {
      const now = calls;
      const still = now === before;
      before = now;
      if (!still) await new Promise((r) => setTimeout(r, 300));
      return still;
    }, 10_000, { intervalMs: 0 });
  });

  it('shows a node whose source throws as unreachable, the others as usual', async () => {
    const [a, b, c] = overlay(1);
    const src = gatherViews([
      { nodeId: A, view: async () => a as ViewNode },
      { nodeId: B, view: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.2:9100')) },
      { nodeId: C, view: async () => c as ViewNode },
    ]);
    expect(b).toBeDefined();
    const url = await serve(() => src.views());
    const res = await fetch(`${url}/view`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(wire([a, { nodeId: B, unreachable: 'connect ECONNREFUSED 10.0.0.2:9100' }, c]));
  });

  it('shows a node that never answers as unreachable once its time is up', async () => {
    const [a] = overlay(1);
    const src = gatherViews([
      { nodeId: A, view: async () => a as ViewNode },
      { nodeId: B, view: () => new Promise<ViewNode>(() => undefined) },
    ], { timeoutMs: 100 });
    const got = await src.views();
    expect(got[0]).toBe(a);
    expect(got[1]).toEqual({ nodeId: B, unreachable: `node ${B} did not answer within 100 ms` });
  });

  it('a source that fails as a whole makes its last nodes unreachable, not a 500', async () => {
    let fail = true;
    const url = await serve(async () => {
      if (fail) throw new Error('the demo is stopping');
      return overlay(1);
    });
    // Nothing known yet: an empty view.
    let res = await fetch(`${url}/view`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    fail = false;
    expect(await (await fetch(`${url}/view`)).json()).toEqual(wire(overlay(1)));
    fail = true;
    res = await fetch(`${url}/view`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([A, B, C].map((nodeId) => ({ nodeId, unreachable: 'the demo is stopping' })));
    // and /live keeps going
    const c = await liveClient(url);
    sockets.push(c.ws);
    await waitFor('a snapshot', () => c.got.length > 0);
    expect(c.got[0]).toEqual([A, B, C].map((nodeId) => ({ nodeId, unreachable: 'the demo is stopping' })));
  });

  it('the node\'s own status server serves the page, /view and /live of its node, and still /status', async () => {
    const [a] = overlay(3);
    if (a === undefined) throw new Error('no node');
    let up = true;
    const s = await serveNodeStatus({
      status: () => {
        if (!up) throw new Error('node stopping');
        return a.status;
      },
      dumpFlows: () => [...a.flows],
    }, '127.0.0.1', 0);
    servers.push(s);
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await fetch(`${s.url}/assets/cytoscape.js`)).status).toBe(200);
    expect(await (await fetch(`${s.url}/view`)).json()).toEqual(wire([a]));
    expect((await (await fetch(`${s.url}/status`)).json() as NodeStatus).nodeId).toBe(A);
    const c = await liveClient(s.url);
    sockets.push(c.ws);
    await waitFor('a snapshot', () => c.got.length > 0);
    expect(c.got[0]).toEqual(wire([a]));
    up = false;
    expect(await (await fetch(`${s.url}/view`)).json()).toEqual([{ nodeId: A, unreachable: 'node stopping' }]);
  });
});

describe('the page\'s graph (overlay/web/graph.js)', () => {
  it.each([
    ['host', 'host', 'direct'],
    ['host', 'srflx', 'NAT traversal'],
    ['prflx', 'host', 'NAT traversal'],
    ['srflx', 'srflx', 'NAT traversal'],
    ['relay', 'host', 'relay'],
    ['srflx', 'relay', 'relay'],
    ['relay', 'relay', 'relay'],
  ])('a %s–%s pair is %s', (l, r, want) => {
    expect(pathType(cand(l, '192.0.2.1', 1), cand(r, '192.0.2.2', 2))).toBe(want);
  });

  it('has no path type without a selected pair', () => {
    expect(pathType(undefined, cand('host', '192.0.2.2', 2))).toBe('unknown');
  });

  it('makes a vertex per node named anywhere and a link per pair, typed and directed by who made it', () => {
    const g = buildGraph(overlay(9));
    expect(g.overlay).toBe('lab');
    expect(g.nodes.map((n) => [n.id, n.state, n.label])).toEqual([
      [A, 'reporting', 'a0000000\n10.10.10.1'],
      [B, 'reporting', 'b0000000\n10.10.10.2'],
      [C, 'reporting', 'c0000000\n10.10.10.3'],
      [D, 'named', 'd0000000\nno status'],
    ]);
    expect(g.nodes[3]?.namedBy).toEqual([C]);
    expect(g.links.map((l) => [l.id, l.linkId, l.type, l.source, l.target, l.state, l.path, linkLabel(l)])).toEqual([
      [`${A}-${B}`, 'lab', 'successor', A, B, 'up', 'direct', 'direct · 1.3 ms'],
      [`${A}-${C}`, 'lac', 'longDistance', C, A, 'up', 'relay', 'relay · 1.3 ms'],
      [`${B}-${C}`, 'lbc', 'successor', B, C, 'up', 'NAT traversal', 'NAT traversal · 1.3 ms'],
    ]);
    // a → b is the lower id's sending side
    expect(g.links[0]?.aToB).toEqual({ packets: 9, bytes: 900 });
    expect(g.links[0]?.bToA).toEqual({ packets: 7, bytes: 700 });
  });

  it('reads an unreachable node\'s links from its peers, counters mirrored', () => {
    const [, b, c] = overlay(9);
    const g = buildGraph([{ nodeId: A, unreachable: 'timed out' }, b as ViewEntry, c as ViewEntry]);
    expect(g.nodes.find((n) => n.id === A)).toMatchObject({ state: 'unreachable', reason: 'timed out', label: 'a0000000\nunreachable' });
    const ab = g.links.find((l) => l.id === `${A}-${B}`);
    // B says it received 9 from A and sent 7: seen from A, that is 9 out and 7 in
    expect(ab).toMatchObject({ type: 'successor', source: A, target: B, state: 'up', aToB: { packets: 9, bytes: 900 }, bToA: { packets: 7, bytes: 700 } });
    expect(ab?.ends[0]).toEqual({ nodeId: A, link: undefined, edge: undefined });
  });

  it('shows a link that is not up, and an edge still being made, by their state', () => {
    const a = status(A, '10.10.10.1', [
      { peer: B, linkId: 'lab', type: 'static', dir: 'out', local: cand('host', '192.0.2.1', 1), remote: cand('host', '192.0.2.2', 2), state: 'connecting' },
    ]);
    const withEdge: NodeStatus = { ...a, topology: { ...a.topology, edges: [...a.topology.edges, { peer: C, type: 'onDemand', dir: 'out', state: 'negotiating', forMs: 10 }] } };
    const g = buildGraph([{ status: withEdge, flows: [] }]);
    expect(g.links.map((l) => [l.id, l.type, l.state, l.path, linkLabel(l), l.linkId])).toEqual([
      [`${A}-${B}`, 'static', 'connecting', 'direct', 'connecting', 'lab'],
      [`${A}-${C}`, 'onDemand', 'negotiating', 'unknown', 'negotiating', undefined],
    ]);
    const els = toElements(g);
    expect(els.filter((e) => e.group === 'edges').map((e) => [e.data.id, e.classes])).toEqual([
      [`link-${A}-${B}`, 'static down'],
      [`link-${A}-${C}`, 'onDemand down'],
    ]);
  });

  it('gives cytoscape a node per vertex and an edge per link whose ends exist', () => {
    const els = toElements(buildGraph(overlay(1)));
    const nodes = new Set(els.filter((e) => e.group === 'nodes').map((e) => e.data.id));
    expect([...nodes]).toEqual([A, B, C, D]);
    const edges = els.filter((e) => e.group === 'edges');
    expect(edges.map((e) => e.classes)).toEqual(['successor up', 'longDistance up', 'successor up']);
    for (const e of edges) {
      expect(nodes.has(e.data.source ?? '')).toBe(true);
      expect(nodes.has(e.data.target ?? '')).toBe(true);
    }
  });
});
