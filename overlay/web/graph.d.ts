/**
 * Types of graph.js (the web view's pure logic, plain JavaScript so that the browser loads it as it is):
 * tests and TypeScript callers import graph.js and get these.
 */
import type { CandidateSummary, LinkStatus } from '../node.js';
import type { EdgeStatus } from '../topology-driver.js';
import type { ViewEntry, ViewNode } from '../status-http.js';

/** How a link's packets travel, from its selected candidate pair. */
export type PathType = 'direct' | 'NAT traversal' | 'relay' | 'unknown';

/** relay on either side: relay; host on both: direct; otherwise (srflx, prflx): NAT traversal. */
export function pathType(local: CandidateSummary | undefined, remote: CandidateSummary | undefined): PathType;

/** The first 8 hex digits of a node id. */
export function shortId(id: string): string;

export interface GraphNode {
  readonly id: string;
  readonly short: string;
  /** Short id, then the TAP's IPv4 address (or why there is none). */
  readonly label: string;
  readonly ip4: string | undefined;
  /** reporting: its view is here; unreachable: its source failed; named: only other nodes mention it. */
  readonly state: 'reporting' | 'unreachable' | 'named';
  /** Why it is unreachable. */
  readonly reason: string | undefined;
  readonly view: ViewNode | undefined;
  /** The nodes whose statuses mention it (links, edges, ring). */
  readonly namedBy: readonly string[];
}

/** One end of a link as that end reports it (both undefined when the end does not report). */
export interface LinkEnd {
  readonly nodeId: string;
  readonly link: LinkStatus | undefined;
  readonly edge: EdgeStatus | undefined;
}

export interface Traffic {
  readonly packets: number;
  readonly bytes: number;
}

export interface GraphLink {
  /** `${a}-${b}`, the node ids sorted. */
  readonly id: string;
  readonly a: string;
  readonly b: string;
  /** The end that made the edge (dir "out"), and the other; a and b when neither says. */
  readonly source: string;
  readonly target: string;
  /** The link manager's id of the link, shared by both ends. */
  readonly linkId: string | undefined;
  /** successor, longDistance, static, onDemand, or unknown. */
  readonly type: string;
  /** up when either end reports its link up; else the link's or the edge's state; unknown without either. */
  readonly state: string;
  readonly path: PathType;
  readonly rttMs: number | undefined;
  readonly ends: readonly [LinkEnd, LinkEnd];
  /** Frames and bytes a → b and b → a, from a's counters, or mirrored from b's when a does not report. */
  readonly aToB: Traffic | undefined;
  readonly bToA: Traffic | undefined;
}

export interface Graph {
  readonly overlay: string | undefined;
  /** Sorted by id (the ring's order). */
  readonly nodes: readonly GraphNode[];
  /** Sorted by id. */
  readonly links: readonly GraphLink[];
}

/** The overlay as the union of every node's status: a node per id named anywhere, a link per pair. */
export function buildGraph(entries: readonly ViewEntry[]): Graph;

/** The edge's label: path type and RTT. */
export function linkLabel(link: GraphLink): string;

export interface CyElement {
  readonly group: 'nodes' | 'edges';
  readonly data: { readonly id: string; readonly label: string; readonly source?: string; readonly target?: string };
  readonly classes: string;
}

/** cytoscape's elements for g: nodes by id, edges as `link-<a>-<b>`, classed by state and type. */
export function toElements(g: Graph): CyElement[];
