/**
 * What the JSON-shaped fuzz targets share ('stanzas', 'config'): a fast seeded generator, random JSON
 * trees, and mutations of a valid JSON document at a random place in its tree (a key dropped, added,
 * renamed; a value replaced by another of any type, a string edited, a number moved to an edge), with
 * the path of the change, so a finding says where.
 *
 * May import: anything (fuzz/).
 */
import { rngU32 } from '../test/helpers/rng.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class Gen {
  readonly u32: () => number;
  constructor(seed: number) {
    this.u32 = rngU32(seed);
  }
  int(n: number): number {
    return this.u32() % n;
  }
  chance(oneIn: number): boolean {
    return this.u32() % oneIn === 0;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)] as T;
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
}

/** Strings a parser should meet: empty, odd characters, look-alikes of valid values, very long ones. */
const STRINGS = [
  '',
  ' ',
  '$',
  '__proto__',
  'constructor',
  'toString',
  'null',
  'true',
  '0',
  '-1',
  '1e309',
  'NaN',
  '\u0000',
  '\ud800',
  '\u202e',
  'é',
  '😀',
  '<evio/>',
  ']]>',
  '&amp;',
  'a\nb',
  'sha-256 AB:CD',
  'stun:',
  'turn:host:99999',
  'v=0',
  'candidate:1 1 udp 1 127.0.0.1 1 typ host',
  '../../etc/passwd',
  '%s%n',
] as const;

const NUMBERS = [0, -0, 1, -1, 0.5, 1e-300, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, 65535, 65536, 1024, 1023, 60_000, 600_001] as const;

export function randomString(g: Gen): string {
  switch (g.int(6)) {
    case 0:
      return g.pick(STRINGS);
    case 1:
      return g.hex(g.pick([1, 12, 31, 32, 33, 64]));
    case 2:
      return String.fromCharCode(...Array.from({ length: g.int(20) }, () => g.int(0x10000)));
    case 3:
      return g.chance(50) ? 'x'.repeat(70_000) : 'x'.repeat(g.int(300));
    default:
      return g.pick(STRINGS) + g.hex(g.int(8));
  }
}

export function randomNumber(g: Gen): number {
  return g.chance(2) ? g.pick(NUMBERS) : (g.u32() - 2 ** 31) / (g.chance(2) ? 1 : 1000);
}

/** Lists and objects nested 12,000 to 32,000 deep: JSON.parse takes them, JSON.stringify overflows. */
export function deepJson(g: Gen): Json {
  let v: Json = 1;
  for (let i = 0, n = 12_000 + g.int(20_000); i < n; i++) v = g.chance(2) ? [v] : { a: v };
  return v;
}

/** A random JSON value; now and then one nested so deep that recursion in a checker would overflow. */
export function randomJson(g: Gen, depth = 0): Json {
  if (depth === 0 && g.chance(2000)) return deepJson(g);
  const k = g.int(depth > 3 ? 4 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return g.chance(2);
    case 2:
      return randomNumber(g);
    case 3:
      return randomString(g);
    case 4:
      return Array.from({ length: g.int(5) }, () => randomJson(g, depth + 1));
    default: {
      const o: { [key: string]: Json } = {};
      for (let i = g.int(5); i > 0; i--) o[randomString(g).slice(0, 20)] = randomJson(g, depth + 1);
      return o;
    }
  }
}

function clone(v: Json): Json {
  return JSON.parse(JSON.stringify(v)) as Json;
}

/** Every container in the tree with its path (`$.a[0].b`), the root first; none below 20 levels (a deep value stays whole). */
function containers(v: Json, path = '$', out: { path: string; node: Json[] | { [key: string]: Json } }[] = [], depth = 0): typeof out {
  if (depth > 20) return out;
  if (Array.isArray(v)) {
    out.push({ path, node: v });
    v.forEach((x, i) => containers(x, `${path}[${i}]`, out, depth + 1));
  } else if (v !== null && typeof v === 'object') {
    out.push({ path, node: v });
    for (const [k, x] of Object.entries(v)) containers(x, `${path}.${k}`, out, depth + 1);
  }
  return out;
}

function editString(g: Gen, s: string): string {
  if (s.length === 0) return randomString(g);
  const i = g.int(s.length);
  switch (g.int(6)) {
    case 0:
      return s.slice(0, i) + s.slice(i + 1);
    case 1:
      return s.slice(0, i) + randomString(g).slice(0, 3) + s.slice(i);
    case 2:
      return s.slice(0, i) + String.fromCharCode(g.int(0x80)) + s.slice(i + 1);
    case 3:
      return s.toUpperCase();
    case 4:
      return ` ${s} `;
    default:
      return s + s;
  }
}

function mutateValue(g: Gen, v: Json): Json {
  if (g.chance(3000)) return deepJson(g);
  if (typeof v === 'string' && g.chance(2)) return editString(g, v);
  if (typeof v === 'number' && g.chance(2)) return g.pick([v + 1, v - 1, -v, v * 1000, v + 0.5, 0]);
  if (Array.isArray(v) && v.length > 0 && g.chance(2)) {
    // the list longer than a limit, or empty
    return g.chance(2) ? Array.from({ length: 65 + g.int(200) }, () => v[g.int(v.length)] as Json) : [];
  }
  return randomJson(g, 2);
}

/** One to three changes to a copy of `doc`; returns the copy and where it was changed. */
export function mutateJson(g: Gen, doc: Json): { value: Json; where: string } {
  let value = clone(doc);
  const where: string[] = [];
  for (let n = 1 + (g.chance(3) ? g.int(3) : 0); n > 0; n--) {
    const all = containers(value);
    if (all.length === 0 || g.chance(30)) {
      value = mutateValue(g, value);
      where.push('$ replaced');
      continue;
    }
    const { path, node } = g.pick(all);
    if (Array.isArray(node)) {
      if (node.length === 0 || g.chance(4)) {
        node.push(randomJson(g, 2));
        where.push(`${path}[] appended`);
      } else {
        const i = g.int(node.length);
        if (g.chance(4)) node.splice(i, 1);
        else node[i] = mutateValue(g, node[i] as Json);
        where.push(`${path}[${i}]`);
      }
      continue;
    }
    const keys = Object.keys(node);
    const op = keys.length === 0 ? 0 : g.int(5);
    if (op === 0) {
      const k = g.chance(2) ? randomString(g).slice(0, 20) : `${g.pick(keys.length ? keys : ['x'])}${g.pick(['', 's', '_', 'X'])}`;
      node[k] = randomJson(g, 2);
      where.push(`${path}.${k} added`);
    } else if (op === 1) {
      const k = g.pick(keys);
      delete node[k];
      where.push(`${path}.${k} removed`);
    } else {
      const k = g.pick(keys);
      node[k] = mutateValue(g, node[k] as Json);
      where.push(`${path}.${k}`);
    }
  }
  return { value, where: where.join(', ') };
}

/** A short, printable account of a value for a finding. */
export function brief(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = '(too deep to print)';
  }
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
}
