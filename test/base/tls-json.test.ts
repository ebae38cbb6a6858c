/** base/tls.ts names the file that cannot be used; base/json.ts names the key path, with the caller's error. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { at, jsonChecks } from '../../base/json.js';
import { TlsFileError, loadTlsFiles } from '../../base/tls.js';

describe('loadTlsFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinflow-base-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a PEM file\n');
  const missing = join(dir, 'missing.pem');

  it.each([
    ['a missing cert', { cert: missing, key: garbage }, missing, /\(cert .*missing\.pem, key .*garbage\.pem\): ENOENT.*missing\.pem/],
    ['a garbage cert', { cert: garbage, key: missing }, missing, /ENOENT/],
    ['garbage in both', { cert: garbage, key: garbage, ca: garbage }, garbage, /, ca .*garbage\.pem\): .*PEM.*\(the cert file .*garbage\.pem\)/],
  ])('%s', (_what, files, file, text) => {
    let err: unknown;
    try {
      loadTlsFiles(files);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TlsFileError);
    expect((err as TlsFileError).file).toBe(file);
    expect((err as TlsFileError).message).toMatch(/^cannot use the TLS files /);
    expect((err as TlsFileError).message).toMatch(text);
  });
});

describe('jsonChecks', () => {
  class MyError extends Error {}
  const c = jsonChecks<unknown>((path, detail) => new MyError(`${path}: ${detail}`));

  it('paths', () => {
    expect([at('', 'a'), at('$', 'a'), at('$.a', 2), at('$.a[2]', 'b')]).toEqual(['a', '$.a', '$.a[2]', '$.a[2].b']);
  });

  it('refuses what does not fit, with the caller error and the path', () => {
    expect(c.object({ a: 1 }, '$')).toEqual({ a: 1 });
    expect(() => c.object([1], '$.x')).toThrow(new MyError('$.x: expected an object, got [1]'));
    expect(() => c.list({}, '$.l')).toThrow(new MyError('$.l: expected a list, got {}'));
    expect(() => c.text(undefined, '$.t')).toThrow(new MyError('$.t: missing'));
    expect(() => c.text(5n, '$.t')).toThrow(new MyError('$.t: expected a string, got 5'));
    expect(() => c.onlyKeys({ name: 1, nmae: 2 }, ['name'], '$.ports[2]', 'a port')).toThrow(new MyError('$.ports[2].nmae: unknown key in a port; expected name'));
    expect(() => c.onlyKeys({ x: 1 }, [], '', 'an empty object')).toThrow(new MyError('x: unknown key in an empty object; expected none'));
  });
});
