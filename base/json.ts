/**
 * Checks for JSON input (REST bodies, config files) whose errors name the key path, e.g.
 * `$.ports[2].name: unknown key in a port; expected number, ifname`, with the caller's error class: each
 * part builds one checker with its own `fail` (a ControllerError 'bad-request' for the REST API, a
 * ConfigError for a config file) and its own way of showing a value.
 *
 * Paths: `at('', 'a')` is `a`, `at('$', 'a')` is `$.a`, `at('$.a', 2)` is `$.a[2]`.
 *
 * May import: nothing (see base/README.md).
 */

/** `path.key`, or `path[index]`; a key at the root ('') is the key alone. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** A value in an error message: JSON text, shortened; `nothing` for a missing one. */
export function showValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = typeof v === 'bigint' ? v.toString() : (JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v));
  } catch {
    // A value nested some ten thousand levels deep (JSON.parse reads it; a peer or a file can send it)
    // overflows JSON.stringify's stack: it is named, not shown (found by fuzz/stanzas.ts, fuzz/config.ts).
    return Array.isArray(v) ? 'a list nested too deep to show' : 'a value nested too deep to show';
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export interface JsonChecks<J> {
  /** An object (not null, not an array). */
  object(v: J | undefined, path: string): { readonly [k: string]: J };
  /** An array ("a list", as Ryu's users call it). */
  list(v: J | undefined, path: string): readonly J[];
  /** A string; `missing` when absent. */
  text(v: J | undefined, path: string): string;
  /** Refuses keys outside `allowed`, at the first unknown key's path; `what` names the object. */
  onlyKeys(o: object, allowed: readonly string[], path: string, what: string): void;
}

/**
 * Checks over values of type J (J is the JSON type of the caller's parser: plain JSON, or JSON with
 * bigints); `fail(path, detail)` makes the error to throw.
 */
export function jsonChecks<J>(fail: (path: string, detail: string) => Error, show: (v: J | undefined) => string = showValue): JsonChecks<J> {
  return {
    object(v, path) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(path, `expected an object, got ${show(v)}`);
      return v as { readonly [k: string]: J };
    },
    list(v, path) {
      if (!Array.isArray(v)) throw fail(path, `expected a list, got ${show(v)}`);
      return v as readonly J[];
    },
    text(v, path) {
      if (typeof v !== 'string') throw fail(path, v === undefined ? 'missing' : `expected a string, got ${show(v)}`);
      return v;
    },
    onlyKeys(o, allowed, path, what) {
      for (const k of Object.keys(o)) {
        if (!allowed.includes(k)) throw fail(at(path, k), `unknown key in ${what}; expected ${allowed.length ? allowed.join(', ') : 'none'}`);
      }
    },
  };
}
