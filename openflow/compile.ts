/**
 * Compiles a struct declaration (struct.ts) into one specialised read function and one write function,
 * the way protobuf.js and avsc do: fixed runs of scalar fields become straight-line buffer reads after a
 * single bounds check, and the decoded value is built as one object literal (one hidden class per
 * struct). Fields that are not plain scalars (lists, nested entities, lengths of later fields) are called
 * through their own read/write. The generated code only ever sees the field list given here; no input
 * data reaches the source text.
 */
import { macToText, writeMac } from './json.js';
import type { AnyField, ReadState, WriteState } from './struct.js';
import { type ErrorKind, Reader, align8, writeU64 } from './wire.js';

export interface CompileOpts {
  readonly cls: string;
  readonly tagKey: string | undefined;
  readonly err: ErrorKind;
  readonly pad8: boolean;
  readonly fixedSize: number | undefined;
  readonly check: ((o: Record<string, unknown>, r: Reader, start: number) => void) | undefined;
}

/** Helpers the generated code calls. */
interface Helpers {
  readonly macToText: typeof macToText;
  readonly writeMac: typeof writeMac;
  readonly align8: typeof align8;
  readonly writeU64: typeof writeU64;
  readonly noState: ReadState;
  readonly checkLen: (r: Reader, declared: number, start: number, at: number, savedEnd: number) => void;
}

const lit = (s: string): string => JSON.stringify(s);

/** Splits fields into runs: consecutive compilable fixed fields, or a single other field. */
function runs(fields: readonly AnyField[]): { fixed: boolean; items: { f: AnyField; i: number }[] }[] {
  const out: { fixed: boolean; items: { f: AnyField; i: number }[] }[] = [];
  fields.forEach((f, i) => {
    const fixed = f.gen !== undefined || f.selfLen === true;
    const last = out[out.length - 1];
    if (fixed && last?.fixed) last.items.push({ f, i });
    else out.push({ fixed, items: [{ f, i }] });
  });
  return out;
}

export function compileRead<T>(fields: readonly AnyField[], o: CompileOpts): (r: Reader) => T {
  const lines: string[] = [];
  const vals: string[] = [];
  const needsTmp = fields.some((f) => f.gen === undefined && f.selfLen !== true && f.take === undefined);
  lines.push('const b = r.buf; const start = r.pos; const savedEnd = r.end; const savedErr = r.lenError;');
  lines.push('r.lenError = ERR;');
  // Read state is only written by length-announcing fields; without one, a shared empty state serves.
  lines.push(fields.some((f) => f.announces === true) ? 'const st = { start, lens: undefined };' : 'const st = H.noState;');
  if (needsTmp) lines.push('const t = {};');
  lines.push('let declared = -1;');
  lines.push('try {');
  let rel = 0;
  for (const run of runs(fields)) {
    if (!run.fixed) {
      const { f, i } = run.items[0] as { f: AnyField; i: number };
      if (f.take !== undefined && f.key !== '') {
        lines.push(`var v${i} = F[${i}].take(r, st);`);
        vals.push(`${lit(f.key)}: v${i}`);
      } else {
        lines.push(`F[${i}].read(r, t, st);`);
        if (f.key !== '') vals.push(`${lit(f.key)}: t[${lit(f.key)}]`);
      }
      continue;
    }
    // A run of fixed fields; a self-length splits it so the rest is checked against the narrowed end.
    let items = run.items;
    while (items.length > 0) {
      const lenAt = items.findIndex((x) => x.f.selfLen === true);
      const seg = lenAt >= 0 ? items.slice(0, lenAt + 1) : items;
      items = lenAt >= 0 ? items.slice(lenAt + 1) : [];
      const n = seg.reduce((s, x) => s + (x.f.fixed as number), 0);
      lines.push(`{ const p = r.pos; if (p + ${n} > r.end) r.need(${n}, CLS);`);
      let k = 0;
      for (const { f, i } of seg) {
        if (f.selfLen === true) {
          lines.push(`declared = b.readUInt16BE(p + ${k}); H.checkLen(r, declared, start, p + ${k}, savedEnd);`);
        } else {
          const g = f.gen;
          if (g?.read && f.key !== '') {
            lines.push(`const v${i} = ${g.read(`p + ${k}`)};`);
            vals.push(`${lit(f.key)}: v${i}`);
          }
        }
        k += f.fixed as number;
      }
      lines.push(`r.pos = p + ${n};`);
      // values must be visible after the block: hoist them
      lines.push('}');
      rel += n;
    }
  }
  void rel;
  lines.push("if (declared >= 0 && r.pos !== r.end) r.fail(ERR, CLS + ' has ' + (r.end - r.pos) + ' unexpected trailing bytes');");
  // build the object
  const tag = o.tagKey ? `${lit(o.tagKey)}: CLS, ` : '';
  lines.push(`var out = { ${tag}${vals.join(', ')} };`);
  if (o.check) lines.push('CHECK(out, r, start);');
  lines.push('} finally { r.end = savedEnd; r.lenError = savedErr; }');
  if (o.pad8) lines.push('{ const padTo = start + H.align8(r.pos - start); r.pos = padTo < r.end ? padTo : r.end; }');
  lines.push('return out;');
  // `const v…` inside blocks would not be visible to the object literal: declare them with var instead.
  const body = lines.join('\n').replace(/\bconst v(\d+) =/g, 'var v$1 =');
  const make = new Function('F', 'H', 'ERR', 'CLS', 'CHECK', `return function read_${safe(o.cls)}(r) {\n${body}\n};`) as (
    F: readonly AnyField[],
    H: Helpers,
    ERR: ErrorKind,
    CLS: string,
    CHECK: CompileOpts['check'],
  ) => (r: Reader) => T;
  return make(fields, helpers(o), o.err, o.cls, o.check);
}

export function compileWrite<T>(fields: readonly AnyField[], o: CompileOpts): (v: T, buf: Buffer, off: number) => number {
  const lines: string[] = ['const start = off;'];
  const needsState = fields.some((f) => f.gen === undefined && f.selfLen !== true);
  lines.push(needsState ? 'const st = { start, selfLenAt: -1, lenAt: undefined };' : '');
  let lenAt: string | undefined;
  for (const run of runs(fields)) {
    if (!run.fixed) {
      const { i } = run.items[0] as { f: AnyField; i: number };
      lines.push(`off = F[${i}].write(v, buf, off, st);`);
      continue;
    }
    let k = 0;
    for (const { f } of run.items) {
      if (f.selfLen === true) {
        lines.push(`const lenAt = off + ${k};`);
        lenAt = 'lenAt';
      } else {
        const g = f.gen as NonNullable<AnyField['gen']>;
        lines.push(g.write(f.key === '' ? 'undefined' : `v[${lit(f.key)}]`, `off + ${k}`));
      }
      k += f.fixed as number;
    }
    lines.push(`off += ${k};`);
  }
  if (lenAt) lines.push(`buf.writeUInt16BE(off - start, ${lenAt});`);
  else if (needsState) lines.push('if (st.selfLenAt >= 0) buf.writeUInt16BE(off - start, st.selfLenAt);');
  if (o.pad8) lines.push('{ const padded = start + H.align8(off - start); buf.fill(0, off, padded); off = padded; }');
  lines.push('return off;');
  const make = new Function('F', 'H', `return function write_${safe(o.cls)}(v, buf, off) {\n${lines.join('\n')}\n};`) as (
    F: readonly AnyField[],
    H: Helpers,
  ) => (v: T, buf: Buffer, off: number) => number;
  return make(fields, helpers(o));
}

const NO_STATE: ReadState = Object.freeze({ start: 0, lens: undefined });

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

function helpers(o: CompileOpts): Helpers {
  return {
    macToText,
    writeMac,
    align8,
    writeU64,
    noState: NO_STATE,
    checkLen(r, declared, start, at, savedEnd) {
      const minLen = at + 2 - start;
      if (declared < minLen || (o.fixedSize !== undefined && declared !== o.fixedSize)) {
        r.fail(o.err, `${o.cls} has length ${declared}, expected ${o.fixedSize ?? `at least ${minLen}`}`, at);
      }
      if (start + declared > savedEnd) r.fail(o.err, `${o.cls} claims ${declared} bytes, ${savedEnd - start} left`, at);
      r.end = start + declared;
    },
  };
}

export type { ReadState, WriteState };
