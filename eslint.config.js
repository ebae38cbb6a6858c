// Lint config: typescript-eslint's recommended rules, with `any` forbidden outright.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Everything outside openflow/ imports the codec through its index only (openflow/README.md). */
const CODEC = { dir: 'openflow', only: ['index.js'] };
/** npm packages only one folder may use (link/README.md: nothing outside link/ imports node-datachannel). */
const LINK_ONLY = [{ name: 'node-datachannel', message: 'only link/ imports node-datachannel (link/README.md)' }];

/**
 * no-restricted-imports for a top-level folder: outside the folder, only the listed folders (and, with
 * `only`, only those files of them). Relative import text depends on depth, so each depth below the
 * folder gets its own pattern list ("../" from folder/x.ts, "../../" from folder/sub/x.ts, ...).
 */
function layer(folder, allowed, message) {
  return [1, 2, 3].map((depth) => {
    const up = '../'.repeat(depth);
    const group = [`${up}*`];
    for (const a of allowed) {
      group.push(`!${up}${a.dir}`);
      if (a.only) group.push(`${up}${a.dir}/*`, ...a.only.map((f) => `!${up}${a.dir}/${f}`));
    }
    const paths = folder === 'link' ? [] : LINK_ONLY;
    // no-restricted-imports does not look at import(): the same rule for dynamic imports of literal paths
    const ok = allowed.map((a) => (a.only ? a.only.map((f) => `${a.dir}\\/${f.replace(/\./g, '\\.')}$`).join('|') : `${a.dir}\\/`));
    const source = `^(\\.\\.\\/){${depth}}${ok.length ? `(?!${ok.join('|')})` : ''}`;
    return {
      files: [`${folder}/${'*/'.repeat(depth - 1)}*.ts`],
      rules: {
        'no-restricted-imports': ['error', { paths, patterns: [{ group, message }] }],
        'no-restricted-syntax': ['error', { selector: `ImportExpression[source.value=/${source}/]`, message }],
      },
    };
  });
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'results/**', '**/build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Dependency rules (README.md, "Layout"; each folder's README says the same for its folder). Each
  // product folder lists what of tinflow it may import; anything else outside the folder is an error,
  // so a new folder or a wrong-way import fails lint. test/, bench/, fuzz/ and scripts/ may import anything.
  ...layer('base', [], 'base/ is the bottom layer: it imports nothing of tinflow outside base/'),
  {
    files: ['base/addr.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['*'], message: 'base/addr.ts imports nothing: the codec uses it' }] }],
    },
  },
  ...layer('openflow', [{ dir: 'base', only: ['addr.js'] }], 'openflow/ imports nothing of tinflow but base/addr.ts'),
  ...layer('switch', [CODEC, { dir: 'base' }], 'switch/ may import only openflow/index.ts and base/'),
  ...layer('controller', [CODEC, { dir: 'base' }], 'controller/ may import only openflow/index.ts and base/ (never switch/ or link/)'),
  ...layer('link', [{ dir: 'base' }, { dir: 'switch', only: ['port.js'] }], 'link/ may import only base/ and the port contract switch/port.ts'),
  ...layer(
    'overlay',
    [CODEC, { dir: 'base' }, { dir: 'switch' }, { dir: 'controller' }, { dir: 'link' }],
    'overlay/ may import base/, openflow/index.ts, switch/, controller/ and link/ (not scripts/, bench/ or test/)',
  ),
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  {
    // The web view's page runs in the browser: its globals, not Node's.
    files: ['overlay/web/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', location: 'readonly', history: 'readonly', fetch: 'readonly', URL: 'readonly',
        WebSocket: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', console: 'readonly', process: 'off', Buffer: 'off',
      },
    },
  },
);
