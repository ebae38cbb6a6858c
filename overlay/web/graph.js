/**
 * The web view's pure logic: from what /view and /live send (one entry per node: its status and flow
 * table, or `{nodeId, unreachable}`) to the overlay graph: a vertex per node named anywhere, a link per
 * pair of nodes that either side reports (a link, or a topology edge still being made).
 *
 * Plain JavaScript, no imports, no DOM: the browser loads it as it is (view.js) and the tests import it
 * (types in graph.d.ts).
 */

/** @param {string} id */
export function shortId(id) {
  return id.slice(0, 8);
}

/**
 * How a link's packets travel, from the selected candidate pair's types (ICE: host, srflx, prflx, relay).
 * @param {{type: string} | undefined} local
 * @param {{type: string} | undefined} remote
 */
export function pathType(local, remote) {
  if (local === undefined || remote === undefined) return 'unknown';
  if (local.type === 'relay' || remote.type === 'relay') return 'relay';
  if (local.type === 'host' && remote.type === 'host') return 'direct';
  return 'NAT traversal';
}

/**
 * The link a node reports towards peer: the one that is up, else the last listed (a link being replaced
 * and its successor can both be listed for a moment).
 * @param {any} status
 * @param {string} peer
 */
function linkTowards(status, peer) {
  const all = status.links.filter((/** @type {any} */ l) => l.peerId === peer);
  return all.find((/** @type {any} */ l) => l.state === 'up') ?? all[all.length - 1];
}

/**
 * @param {readonly any[]} entries ViewEntry[] (status-http.ts)
 * @returns {import('./graph.js').Graph}
 */
export function buildGraph(entries) {
  /** @type {Map<string, any>} */
  const views = new Map();
  /** @type {Map<string, string>} */
  const unreachable = new Map();
  for (const e of entries) {
    if (e.status !== undefined) views.set(e.status.nodeId, e);
    else unreachable.set(e.nodeId, e.unreachable);
  }
  /** Every node id, with the nodes whose statuses name it. @type {Map<string, Set<string>>} */
  const named = new Map();
  const name = (/** @type {string} */ id, /** @type {string | undefined} */ by) => {
    let s = named.get(id);
    if (s === undefined) named.set(id, (s = new Set()));
    if (by !== undefined && by !== id) s.add(by);
  };
  /** Peers per pair key. @type {Map<string, [string, string]>} */
  const pairs = new Map();
  const pair = (/** @type {string} */ x, /** @type {string} */ y) => {
    if (x === y) return;
    const [a, b] = x < y ? [x, y] : [y, x];
    pairs.set(`${a}-${b}`, [a, b]);
  };
  for (const id of unreachable.keys()) name(id, undefined);
  for (const [id, v] of views) {
    const s = v.status;
    name(id, undefined);
    for (const peer of [...s.links.map((/** @type {any} */ l) => l.peerId), ...s.topology.edges.map((/** @type {any} */ e) => e.peer)]) {
      name(peer, id);
      pair(id, peer);
    }
    // Peers on signaling without an edge yet are part of the overlay too.
    for (const p of [...s.topology.ring, ...s.topology.available]) name(p, id);
  }
  let overlay;
  for (const v of views.values()) overlay ??= v.status.overlay;

  const nodes = [...named.keys()].sort().map((id) => {
    const view = views.get(id);
    const ip4 = view?.status.tap.ip4;
    const state = view !== undefined ? 'reporting' : unreachable.has(id) ? 'unreachable' : 'named';
    const second = state === 'reporting' ? ip4 ?? 'no IPv4' : state === 'unreachable' ? 'unreachable' : 'no status';
    return {
      id, short: shortId(id), label: `${shortId(id)}\n${second}`, ip4, state,
      reason: unreachable.get(id), view, namedBy: [...(named.get(id) ?? [])].sort(),
    };
  });

  const links = [...pairs.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([id, [a, b]]) => {
    const end = (/** @type {string} */ self, /** @type {string} */ other) => {
      const s = views.get(self)?.status;
      return {
        nodeId: self,
        link: s === undefined ? undefined : linkTowards(s, other),
        edge: s?.topology.edges.find((/** @type {any} */ e) => e.peer === other),
      };
    };
    const ea = end(a, b);
    const eb = end(b, a);
    const ends = /** @type {const} */ ([ea, eb]);
    const dirOf = (/** @type {any} */ e) => e.link?.edge?.dir ?? e.edge?.dir;
    const typeOf = (/** @type {any} */ e) => e.link?.edge?.type ?? e.edge?.type;
    // The end that made the edge names its type; the other end agreed to it.
    const out = ends.find((e) => dirOf(e) === 'out') ?? ends.find((e) => typeOf(e) !== undefined);
    const inEnd = out === eb ? ea : eb;
    const source = out !== undefined && dirOf(out) === 'out' ? out.nodeId : a;
    const target = source === a ? b : a;
    const type = (out && typeOf(out)) ?? typeOf(inEnd) ?? 'unknown';
    const withLink = ends.filter((e) => e.link !== undefined);
    const up = withLink.find((e) => e.link.state === 'up');
    const state = up !== undefined ? 'up' : withLink[0]?.link.state ?? ea.edge?.state ?? eb.edge?.state ?? 'unknown';
    const best = up ?? withLink[0];
    const path = best === undefined ? 'unknown' : pathType(best.link.local, best.link.remote);
    const rttMs = (up ?? withLink.find((e) => e.link.rttMs !== undefined))?.link.rttMs;
    // a's counters say both directions; b's, read the other way round, stand in while a is silent.
    const ca = ea.link?.counters;
    const cb = eb.link?.counters;
    const aToB = ca ? { packets: ca.txPackets, bytes: ca.txBytes } : cb ? { packets: cb.rxPackets, bytes: cb.rxBytes } : undefined;
    const bToA = ca ? { packets: ca.rxPackets, bytes: ca.rxBytes } : cb ? { packets: cb.txPackets, bytes: cb.txBytes } : undefined;
    return { id, a, b, source, target, linkId: (ea.link ?? eb.link)?.linkId, type, state, path, rttMs, ends, aToB, bToA };
  });
  return { overlay, nodes, links };
}

/** @param {import('./graph.js').GraphLink} link */
export function linkLabel(link) {
  const rtt = link.rttMs === undefined ? '' : ` · ${link.rttMs < 10 ? link.rttMs.toFixed(1) : Math.round(link.rttMs)} ms`;
  return link.state === 'up' ? `${link.path}${rtt}` : link.state;
}

/**
 * @param {import('./graph.js').Graph} g
 * @returns {import('./graph.js').CyElement[]}
 */
export function toElements(g) {
  return [
    ...g.nodes.map((n) => ({ group: /** @type {const} */ ('nodes'), data: { id: n.id, label: n.label }, classes: n.state })),
    ...g.links.map((l) => ({
      group: /** @type {const} */ ('edges'),
      data: { id: `link-${l.id}`, source: l.source, target: l.target, label: linkLabel(l) },
      classes: `${l.type} ${l.state === 'up' ? 'up' : 'down'}`,
    })),
  ];
}
