// The packaged extension is the esbuild bundle alone (node_modules are not shipped, see
// .vscodeignore): it must load with nothing but the `vscode` module that VS Code provides,
// and the manifest must point at it. Run with `npm test` (node --test).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const root = path.join(__dirname, '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

test('main is the bundle, and the bundle loads with only `vscode` from outside', () => {
  execFileSync(process.execPath, ['esbuild.mjs', '--production'], { cwd: root });
  const main = path.join(root, manifest.main);
  assert.equal(path.relative(root, main), path.join('dist', 'extension.js'));
  const asked = [];
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (parent && parent.filename === main && !request.startsWith('node:') && !Module.isBuiltin(request)) {
      asked.push(request);
      if (request === 'vscode') return 'vscode-stub';
      throw new Error(`the bundle requires ${request}, which is not shipped`);
    }
    return resolve.call(this, request, parent, ...rest);
  };
  // Enough of the API for the bundle to load: every name is a class (vscode-languageclient
  // extends some at load time).
  const vscode = new Proxy({}, { get: (t, k) => (k in t ? t[k] : (t[k] = class {})) });
  require.cache['vscode-stub'] = { id: 'vscode-stub', filename: 'vscode-stub', loaded: true, exports: vscode };
  try {
    const ext = require(main);
    assert.equal(typeof ext.activate, 'function');
    assert.equal(typeof ext.deactivate, 'function');
  } finally {
    Module._resolveFilename = resolve;
    delete require.cache['vscode-stub'];
  }
  assert.deepEqual([...new Set(asked)], ['vscode']);
});

test('the extension activates on policy files and on scenario files', () => {
  assert.ok(manifest.activationEvents.includes('workspaceContains:**/*.policy'));
  assert.ok(manifest.activationEvents.includes('workspaceContains:**/scenarios/**/*.{yaml,yml}'));
  const source = fs.readFileSync(path.join(root, 'extension.js'), 'utf8');
  assert.match(source, /language: 'yaml', pattern: '\*\*\/scenarios\/\*\*\/\*\.\{yaml,yml\}'/);
});

test('node_modules and the sources are left out of the package', () => {
  const ignore = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n');
  for (const entry of ['node_modules/**', 'extension.js', 'test/**']) {
    assert.ok(ignore.includes(entry), `.vscodeignore lacks ${entry}`);
  }
  assert.ok(fs.existsSync(path.join(root, 'LICENSE')));
});
