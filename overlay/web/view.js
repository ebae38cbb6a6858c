/**
 * The overlay's web view in the browser: reads /view once, then follows the WebSocket /live (every
 * message is the whole state: one entry per node), and shows it three ways that update together:
 * the graph (cytoscape, on a canvas), the tables of nodes and links under it (plain HTML with stable
 * data-testid attributes, for people and for browser tests alike), and the panel of the selection.
 *
 * data-testid: node-<nodeId> (a row per node), link-<a>-<b> (a row per link, ids sorted),
 * counter-<linkId>-{txPackets,txBytes,rxPackets,rxBytes} (a → b and b → a of that row; data-value is
 * the raw number), flows-<nodeId> (the selected node's flow table), panel, graph, connection, updated.
 *
 * Everything a node reports is put in the page as text (textContent), never as HTML.
 */
import cytoscape from './cytoscape.js';
import { buildGraph, linkLabel, shortId, toElements } from './graph.js';

const COLORS = { successor: '#2b6cb0', longDistance: '#6b46c1', onDemand: '#dd6b20', static: '#2f855a', down: '#c53030', named: '#a0aec0' };
const TYPE_NAMES = { successor: 'successor', longDistance: 'long-distance', onDemand: 'on-demand', static: 'static', unknown: 'unknown' };

const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)', 'text-wrap': 'wrap', 'text-valign': 'bottom', 'text-margin-y': 4, 'font-size': 11,
      'background-color': COLORS.successor, width: 22, height: 22, color: '#1a202c',
      'text-background-color': '#ffffff', 'text-background-opacity': 0.8, 'text-background-padding': 2,
    },
  },
  { selector: 'node.unreachable', style: { 'background-color': COLORS.down, shape: 'diamond' } },
  { selector: 'node.named', style: { 'background-color': COLORS.named, 'border-width': 2, 'border-style': 'dashed', 'border-color': '#718096' } },
  { selector: 'node:selected', style: { 'border-width': 4, 'border-style': 'solid', 'border-color': '#f6ad55' } },
  {
    selector: 'edge',
    style: {
      width: 2, 'curve-style': 'bezier', 'line-color': '#718096', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#718096',
      'arrow-scale': 0.8, label: 'data(label)', 'font-size': 10, 'text-rotation': 'autorotate',
      'text-background-color': '#ffffff', 'text-background-opacity': 0.85, 'text-background-padding': 1,
    },
  },
  { selector: 'edge.successor', style: { width: 3, 'line-color': COLORS.successor, 'target-arrow-color': COLORS.successor } },
  { selector: 'edge.longDistance', style: { 'line-style': 'dashed', 'line-color': COLORS.longDistance, 'target-arrow-color': COLORS.longDistance } },
  { selector: 'edge.onDemand', style: { width: 3, 'line-style': 'dotted', 'line-color': COLORS.onDemand, 'target-arrow-color': COLORS.onDemand } },
  { selector: 'edge.static', style: { width: 4, 'line-color': COLORS.static, 'target-arrow-color': COLORS.static } },
  { selector: 'edge.down', style: { opacity: 0.4, color: COLORS.down } },
  { selector: 'edge:selected', style: { width: 6, opacity: 1 } },
];

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * An element with attributes and children (strings become text).
 * @param {string} tag
 * @param {Record<string, string | undefined>} [attrs]
 * @param {...(Node | string | undefined)} children
 */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  for (const c of children) if (c !== undefined) e.append(c);
  return e;
}

const count = new Intl.NumberFormat('en');
function fmtCount(/** @type {number | undefined} */ n) {
  return n === undefined ? '–' : count.format(n);
}
function fmtBytes(/** @type {number | undefined} */ n) {
  if (n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
function fmtMs(/** @type {number | undefined} */ ms) {
  return ms === undefined ? '–' : `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}
function fmtAge(/** @type {number} */ ms) {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
function fmtCandidate(/** @type {{type: string, address: string, port: number} | undefined} */ c) {
  if (c === undefined) return '–';
  return `${c.type} ${c.address.includes(':') ? `[${c.address}]` : c.address}:${c.port}`;
}
function typeName(/** @type {string} */ t) {
  return TYPE_NAMES[/** @type {keyof typeof TYPE_NAMES} */ (t)] ?? t;
}

// ---------------------------------------------------------------------------------------------------
// State: the latest graph and the selection.

/** @type {import('./graph.js').Graph} */
let graph = { overlay: undefined, nodes: [], links: [] };
/**
 * The server's bearer token, when it asks for one (a status served beyond loopback): given once in the
 * address (#token=T, or #token=T&node=<id>), then kept for this tab only and taken out of the address
 * bar, so that a copied link or a screenshot does not carry it. /view gets it as an Authorization header;
 * the WebSocket /live, which a browser cannot give headers, as ?token=.
 * @type {string | undefined}
 */
const token = (() => {
  const parts = location.hash.slice(1).split('&').filter((x) => x !== '');
  const given = parts.find((x) => x.startsWith('token='));
  if (given === undefined) return window.sessionStorage.getItem('tinflow-token') ?? undefined;
  const t = decodeURIComponent(given.slice('token='.length));
  window.sessionStorage.setItem('tinflow-token', t);
  const rest = parts.filter((x) => x !== given).join('&');
  history.replaceState(null, '', rest === '' ? location.pathname + location.search : `#${rest}`);
  return t;
})();
/**
 * The selection, kept in the address (#node=<id>, #link=<a>-<b>) so that a view can be linked to.
 * @type {{kind: 'node' | 'link', id: string} | undefined}
 */
let selected = (() => {
  const m = /^#(node|link)=([0-9a-zA-Z-]+)$/.exec(location.hash);
  return m === null ? undefined : { kind: /** @type {'node' | 'link'} */ (m[1]), id: m[2] ?? '' };
})();

const cy = cytoscape({ container: $('graph'), style: STYLE, minZoom: 0.2, maxZoom: 4, boxSelectionEnabled: false, selectionType: 'single' });
cy.on('tap', 'node', (/** @type {any} */ e) => select({ kind: 'node', id: e.target.id() }));
cy.on('tap', 'edge', (/** @type {any} */ e) => select({ kind: 'link', id: e.target.id().slice('link-'.length) }));
cy.on('tap', (/** @type {any} */ e) => {
  if (e.target === cy) select(undefined);
});

/** @param {{kind: 'node' | 'link', id: string} | undefined} what */
function select(what) {
  selected = what;
  history.replaceState(null, '', what === undefined ? location.pathname : `#${what.kind}=${what.id}`);
  cy.elements(':selected').unselect();
  if (what !== undefined) cy.getElementById(what.kind === 'node' ? what.id : `link-${what.id}`).select();
  render();
}

// ---------------------------------------------------------------------------------------------------
// The graph: elements updated in place; the ring layout (a circle in node id order) again only when
// the set of nodes changes, so the picture stays still while counters move.

let layoutKey = '';
function renderGraph() {
  const elements = toElements(graph);
  const keep = new Set(elements.map((e) => e.data.id));
  cy.batch(() => {
    cy.elements().forEach((/** @type {any} */ e) => {
      if (!keep.has(e.id())) cy.remove(e);
    });
    for (const e of elements) {
      let have = cy.getElementById(e.data.id);
      // An edge cannot move its ends: one whose direction changed is made anew.
      if (have.nonempty() && e.group === 'edges' && (have.data('source') !== e.data.source || have.data('target') !== e.data.target)) {
        cy.remove(have);
        have = cy.collection();
      }
      if (have.empty()) cy.add(e);
      else {
        have.data(e.data);
        have.classes(e.classes);
      }
    }
  });
  if (selected !== undefined) cy.getElementById(selected.kind === 'node' ? selected.id : `link-${selected.id}`).select();
  const key = graph.nodes.map((n) => n.id).join(',');
  if (key !== layoutKey) {
    layoutKey = key;
    cy.layout({ name: 'circle', animate: false, padding: 40, sort: (/** @type {any} */ x, /** @type {any} */ y) => (x.id() < y.id() ? -1 : 1) }).run();
    cy.fit(undefined, 40);
  }
}

// ---------------------------------------------------------------------------------------------------
// The tables: rows kept by key and updated in place (a browser test's handle on a row stays valid).

/**
 * @typedef {{text: string, title?: string, testid?: string, value?: string, cls?: string}} Cell
 * @param {HTMLElement} tbody
 * @param {readonly {key: string, testid: string, cells: Cell[], onclick: () => void, selected: boolean}[]} rows
 */
function syncRows(tbody, rows) {
  /** @type {Map<string, HTMLTableRowElement>} */
  const have = new Map();
  for (const tr of /** @type {HTMLTableRowElement[]} */ ([...tbody.children])) have.set(tr.dataset.key ?? '', tr);
  for (const row of rows) {
    let tr = have.get(row.key);
    have.delete(row.key);
    if (tr === undefined) {
      tr = /** @type {HTMLTableRowElement} */ (el('tr'));
      tr.dataset.key = row.key;
    }
    tr.setAttribute('data-testid', row.testid);
    tr.onclick = row.onclick;
    tr.classList.toggle('selected', row.selected);
    while (tr.cells.length < row.cells.length) tr.append(el('td'));
    row.cells.forEach((c, i) => {
      const td = /** @type {HTMLTableCellElement} */ (tr.cells[i]);
      if (td.textContent !== c.text) td.textContent = c.text;
      for (const [attr, v] of [['title', c.title], ['data-testid', c.testid], ['data-value', c.value], ['class', c.cls]]) {
        if (v === undefined) td.removeAttribute(/** @type {string} */ (attr));
        else td.setAttribute(/** @type {string} */ (attr), v);
      }
    });
    tbody.append(tr); // in order (moves an existing row)
  }
  for (const tr of have.values()) tr.remove();
}

function renderTables() {
  syncRows($('nodes'), graph.nodes.map((n) => {
    const s = n.view?.status;
    const state = n.state === 'reporting' ? 'reporting' : n.state === 'unreachable' ? 'unreachable' : 'no status';
    return {
      key: n.id, testid: `node-${n.id}`, onclick: () => select({ kind: 'node', id: n.id }), selected: selected?.kind === 'node' && selected.id === n.id,
      cells: [
        { text: n.short, title: n.id },
        { text: n.ip4 ?? '–' },
        { text: state, title: n.reason ?? (n.state === 'named' ? `named by ${n.namedBy.map(shortId).join(', ')}` : undefined), cls: `state-${n.state}` },
        { text: s === undefined ? '–' : s.signalOnline ? 'online' : 'offline' },
        { text: s === undefined ? '–' : String(s.links.filter((/** @type {any} */ l) => l.state === 'up').length), cls: 'num' },
        { text: s === undefined ? '–' : fmtCount(s.flows), cls: 'num' },
      ],
    };
  }));
  syncRows($('links'), graph.links.map((l) => {
    const counter = (/** @type {string} */ field, /** @type {number | undefined} */ v, /** @type {string} */ text) => ({
      text, cls: 'num', testid: l.linkId === undefined ? undefined : `counter-${l.linkId}-${field}`, value: v === undefined ? undefined : String(v),
    });
    return {
      key: l.id, testid: `link-${l.id}`, onclick: () => select({ kind: 'link', id: l.id }), selected: selected?.kind === 'link' && selected.id === l.id,
      cells: [
        { text: `${shortId(l.a)} ↔ ${shortId(l.b)}`, title: `${l.a} ↔ ${l.b}` },
        { text: typeName(l.type) },
        { text: l.state, cls: `state-${l.state === 'up' ? 'up' : 'down'}` },
        { text: l.path },
        { text: fmtMs(l.rttMs), cls: 'num' },
        counter('txPackets', l.aToB?.packets, fmtCount(l.aToB?.packets)),
        counter('txBytes', l.aToB?.bytes, fmtBytes(l.aToB?.bytes)),
        counter('rxPackets', l.bToA?.packets, fmtCount(l.bToA?.packets)),
        counter('rxBytes', l.bToA?.bytes, fmtBytes(l.bToA?.bytes)),
      ],
    };
  }));
}

// ---------------------------------------------------------------------------------------------------
// The panel of the selection: made anew on each update (its text is small).

/** @param {readonly [string, string | undefined][]} rows */
function facts(rows) {
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of rows) dl.append(el('dt', {}, k), el('dd', {}, v ?? '–'));
  return dl;
}

/**
 * @param {any} c port counters
 * @returns {[string, string][]}
 */
function counterRows(c) {
  if (c === undefined) return [['counters', 'none (no port)']];
  return [
    ['sent', `${fmtCount(c.txPackets)} frames, ${fmtBytes(c.txBytes)}`],
    ['received', `${fmtCount(c.rxPackets)} frames, ${fmtBytes(c.rxBytes)}`],
    ['dropped (tx / rx)', `${fmtCount(c.txDropped)} / ${fmtCount(c.rxDropped)}`],
    ['errors (tx / rx)', `${fmtCount(c.txErrors)} / ${fmtCount(c.rxErrors)}`],
  ];
}

/** @param {import('./graph.js').GraphNode} n */
function nodePanel(n) {
  const out = [el('h2', {}, `node ${n.short}`), facts([['id', n.id]])];
  if (n.view === undefined) {
    out.push(el('p', { class: n.state === 'unreachable' ? 'state-unreachable' : 'hint' },
      n.state === 'unreachable' ? `unreachable: ${n.reason ?? ''}` : `no status from this node; named by ${n.namedBy.map(shortId).join(', ') || 'nobody'}`));
    return out;
  }
  const s = n.view.status;
  out.push(facts([
    ['overlay', s.overlay],
    ['TAP', `${s.tap.name} ${s.tap.hwAddr}`],
    ['IPv4', s.tap.ip4 === undefined ? 'none (layer 2 only)' : `${s.tap.ip4}/${s.tap.prefixLen}`],
    ['MTU', String(s.tap.mtu)],
    ['signaling', `${s.signalOnline ? 'online' : 'offline'} (${s.jid})`],
    ['controller', `${s.controller.kind} ${s.controller.target} ${s.controller.connected ? 'connected' : 'not connected'}`],
    ['flows', fmtCount(s.flows)],
    ['ring', `${s.topology.ring.length} nodes; successors ${s.topology.successors.map(shortId).join(', ') || '–'}`],
    ['topology changes', Object.entries(s.topology.changes).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['backed off', s.topology.backoff.length === 0 ? 'none' : s.topology.backoff.map((/** @type {any} */ b) => shortId(String(b.peer ?? ''))).join(', ')],
  ]));

  out.push(el('h3', {}, `links (${s.links.length})`));
  if (s.links.length === 0) out.push(el('p', { class: 'hint' }, 'none'));
  for (const l of s.links) {
    out.push(el('h3', {}, `→ ${shortId(l.peerId)}: ${l.state}`), facts([
      ['edge', l.edge === undefined ? '–' : `${typeName(l.edge.type)}, ${l.edge.dir === 'out' ? 'made by this node' : 'made by the peer'}`],
      ['link', `${l.linkId} (${l.role}), port ${l.port ?? '–'} ${l.portName}`],
      ['local', fmtCandidate(l.local)],
      ['remote', fmtCandidate(l.remote)],
      ['RTT', fmtMs(l.rttMs)],
      ['set-up', l.setupMs === undefined ? '–' : `${fmtMs(l.setupMs)}${l.seenToUpMs === undefined ? '' : `; seen → up ${fmtMs(l.seenToUpMs)}`}`],
      ...counterRows(l.counters),
    ]));
  }

  const edges = s.topology.edges;
  out.push(el('h3', {}, `topology edges (${edges.length})`));
  if (edges.length > 0) {
    const t = el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'peer'), el('th', {}, 'type'), el('th', {}, 'dir'), el('th', {}, 'state'), el('th', {}, 'for'))));
    const body = el('tbody');
    for (const e of edges) body.append(el('tr', {}, el('td', { title: e.peer }, shortId(e.peer)), el('td', {}, typeName(e.type)), el('td', {}, e.dir), el('td', {}, e.state), el('td', {}, fmtAge(e.forMs))));
    t.append(body);
    out.push(t);
  }

  if (s.flood !== undefined) {
    const { dropped, ...rest } = s.flood;
    const drops = Object.entries(dropped ?? {}).filter(([, v]) => v !== 0);
    out.push(el('h3', {}, 'BoundedFlood'), facts([
      ...Object.entries(rest).map(([k, v]) => /** @type {[string, string]} */ ([k, fmtCount(Number(v))])),
      ['dropped', drops.length === 0 ? 'none' : drops.map(([k, v]) => `${k} ${v}`).join(', ')],
    ]));
  }

  out.push(el('h3', {}, `flow table (${n.view.flows.length})`), el('pre', { class: 'flows', 'data-testid': `flows-${n.id}` }, n.view.flows.join('\n') || '(empty)'));
  return out;
}

/** @param {import('./graph.js').GraphLink} l */
function linkPanel(l) {
  const out = [
    el('h2', {}, `link ${shortId(l.a)} ↔ ${shortId(l.b)}`),
    facts([
      ['ends', `${l.a} ↔ ${l.b}`],
      ['type', typeName(l.type)],
      ['made by', l.ends.some((e) => (e.link?.edge?.dir ?? e.edge?.dir) === 'out') ? shortId(l.source) : '–'],
      ['state', l.state],
      ['path', l.path],
      ['RTT', fmtMs(l.rttMs)],
      ['link id', l.linkId],
      ['label', linkLabel(l)],
    ]),
  ];
  for (const e of l.ends) {
    out.push(el('h3', {}, `as ${shortId(e.nodeId)} sees it`));
    if (e.link === undefined && e.edge === undefined) {
      out.push(el('p', { class: 'hint' }, graph.nodes.find((n) => n.id === e.nodeId)?.view === undefined ? 'this node does not report' : 'no link or edge towards the other end'));
      continue;
    }
    const k = e.link;
    out.push(facts([
      ['edge', e.edge === undefined ? '–' : `${typeName(e.edge.type)} ${e.edge.dir}, ${e.edge.state} for ${fmtAge(e.edge.forMs)}`],
      ['link', k === undefined ? 'none' : `${k.state} (${k.role}), port ${k.port ?? '–'}`],
      ['local', fmtCandidate(k?.local)],
      ['remote', fmtCandidate(k?.remote)],
      ['RTT', fmtMs(k?.rttMs)],
      ...(k === undefined ? [] : counterRows(k.counters)),
    ]));
  }
  return out;
}

function renderPanel() {
  const panel = $('panel');
  let content;
  if (selected === undefined) content = [el('p', { class: 'hint' }, 'Select a node or a link.')];
  else if (selected.kind === 'node') {
    const id = selected.id;
    const n = graph.nodes.find((x) => x.id === id);
    content = n === undefined ? [el('p', { class: 'hint' }, `node ${shortId(id)} is no longer in the overlay`)] : nodePanel(n);
  } else {
    const id = selected.id;
    const l = graph.links.find((x) => x.id === id);
    content = l === undefined ? [el('p', { class: 'hint' }, 'this link is gone')] : linkPanel(l);
  }
  panel.replaceChildren(...content);
}

function render() {
  renderGraph();
  renderTables();
  renderPanel();
}

// ---------------------------------------------------------------------------------------------------
// Data: /view at once, then /live; a lost WebSocket is dialled again every 2 s.

/** @param {unknown} entries */
function update(entries) {
  if (!Array.isArray(entries)) return;
  graph = buildGraph(entries);
  $('overlay').textContent = graph.overlay === undefined ? '' : `overlay ${graph.overlay}`;
  document.title = graph.overlay === undefined ? 'tinflow overlay' : `tinflow · ${graph.overlay}`;
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  render();
}

function connection(/** @type {string} */ text, /** @type {string} */ cls) {
  const c = $('connection');
  c.textContent = text;
  c.className = `connection ${cls}`;
}

/** Whether the server turned the page's token (or its lack of one) away: said, not "retrying". */
let refused = false;
const NEEDS_TOKEN = 'this server needs a token: open the page as …/#token=TOKEN';

function connect() {
  const url = new URL('live', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token !== undefined) url.searchParams.set('token', token);
  const ws = new WebSocket(url);
  ws.onopen = () => connection('live', 'live');
  ws.onmessage = (ev) => {
    try {
      update(JSON.parse(String(ev.data)));
    } catch (e) {
      connection(`bad message: ${e instanceof Error ? e.message : String(e)}`, 'lost');
    }
  };
  ws.onclose = () => {
    connection(refused ? NEEDS_TOKEN : 'disconnected: retrying', 'lost');
    setTimeout(connect, 2000);
  };
}

fetch(new URL('view', location.href), token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } })
  .then((r) => {
    refused = r.status === 401;
    if (refused) connection(NEEDS_TOKEN, 'lost');
    return r.ok ? r.json() : undefined;
  })
  .then((v) => {
    if (v !== undefined) update(v);
  })
  .catch(() => undefined) // /live follows anyway
  .finally(connect);
