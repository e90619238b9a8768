// Tokenizes policy text with the extension's TextMate grammar, exactly as VS Code does
// (vscode-textmate + the Oniguruma regex engine compiled to WebAssembly), and checks the
// scope of each kind of token. Run with `npm test` (node --test).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const here = __dirname;
const grammarPath = path.join(here, '..', 'syntaxes', 'policy.tmLanguage.json');

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.mailgate'
        ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath)
        : null,
  });
  return registry.loadGrammar('source.mailgate');
}

const grammarPromise = loadGrammar();

/** Every token of `text` as { line, text, scopes }. */
async function tokenize(text) {
  const grammar = await grammarPromise;
  let state = vsctm.INITIAL;
  const out = [];
  text.split('\n').forEach((line, n) => {
    const r = grammar.tokenizeLine(line, state);
    for (const t of r.tokens) {
      out.push({ line: n, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    }
    state = r.ruleStack;
  });
  return out;
}

/** The innermost scope of the first token whose text is `text` (on `line`, if given). */
function scopeOf(tokens, text, line) {
  const t = tokens.find((t) => t.text === text && (line === undefined || t.line === line));
  assert.ok(t, `no token ${JSON.stringify(text)}`);
  return t.scopes[t.scopes.length - 1];
}

const sample = fs.readFileSync(path.join(here, 'samples', 'sample.policy'), 'utf8');

test('comments', async () => {
  const tokens = await tokenize(sample);
  assert.equal(scopeOf(tokens, '#'), 'punctuation.definition.comment.mailgate');
  assert.equal(
    scopeOf(tokens, ' A sample for the grammar test: every kind of token.'),
    'comment.line.number-sign.mailgate',
  );
  // A `#` inside a string is not a comment.
  const inString = await tokenize('reason "a # b"');
  assert.equal(scopeOf(inString, 'a # b'), 'string.quoted.double.mailgate');
});

test('keywords and declarations', async () => {
  const tokens = await tokenize(sample);
  assert.equal(scopeOf(tokens, 'let'), 'keyword.control.let.mailgate');
  assert.equal(scopeOf(tokens, 'is_admin', 1), 'variable.other.constant.mailgate');
  assert.equal(scopeOf(tokens, 'rule'), 'keyword.control.rule.mailgate');
  assert.equal(scopeOf(tokens, 'approve-online-2'), 'entity.name.function.rule.mailgate');
  assert.equal(scopeOf(tokens, 'invariant'), 'keyword.control.invariant.mailgate');
  assert.equal(scopeOf(tokens, 'admins-only'), 'entity.name.function.invariant.mailgate');
  assert.equal(scopeOf(tokens, 'allow'), 'storage.modifier.effect.mailgate');
  for (const kw of ['when', 'reason', 'on', 'only']) {
    assert.equal(scopeOf(tokens, kw), 'keyword.control.mailgate', kw);
  }
  // Keywords inside longer words are not keywords.
  const words = await tokenize('when allowance and android');
  assert.equal(words.find((t) => t.text.includes('allowance')).scopes.length, 1);
});

test('strings and escapes', async () => {
  const tokens = await tokenize(sample);
  assert.equal(scopeOf(tokens, 'System Administrator'), 'string.quoted.double.mailgate');
  assert.equal(scopeOf(tokens, '\\"'), 'constant.character.escape.mailgate');
  assert.equal(scopeOf(tokens, '\\\\'), 'constant.character.escape.mailgate');
  assert.equal(scopeOf(tokens, '\\t'), 'constant.character.escape.mailgate');
  assert.equal(scopeOf(tokens, '\\q'), 'invalid.illegal.escape.mailgate');
  // Non-ASCII text stays inside the string.
  assert.equal(scopeOf(tokens, 'go 😀'), 'string.quoted.double.mailgate');
  // An unclosed string ends with its line; the next line is policy text again.
  const open = await tokenize('reason "unclosed\nrule next {');
  assert.equal(scopeOf(open, 'rule'), 'keyword.control.rule.mailgate');
});

test('operators', async () => {
  const tokens = await tokenize(sample);
  assert.equal(scopeOf(tokens, '>='), 'keyword.operator.comparison.mailgate');
  assert.equal(scopeOf(tokens, '=='), 'keyword.operator.comparison.mailgate');
  assert.equal(scopeOf(tokens, '!='), 'keyword.operator.comparison.mailgate');
  assert.equal(scopeOf(tokens, '=', 1), 'keyword.operator.assignment.mailgate');
  for (const w of ['and', 'or', 'not']) {
    assert.equal(scopeOf(tokens, w), 'keyword.operator.logical.mailgate', w);
  }
  for (const w of ['contains', 'any', 'in']) {
    assert.equal(scopeOf(tokens, w), 'keyword.operator.word.mailgate', w);
  }
});

test('numbers, booleans and paths', async () => {
  const tokens = await tokenize(sample);
  assert.equal(scopeOf(tokens, '-12'), 'constant.numeric.integer.mailgate');
  assert.equal(scopeOf(tokens, 'true'), 'constant.language.boolean.mailgate');
  assert.equal(scopeOf(tokens, 'org'), 'variable.other.object.mailgate');
  assert.equal(scopeOf(tokens, '.'), 'punctuation.accessor.mailgate');
  assert.equal(scopeOf(tokens, 'version'), 'variable.other.property.mailgate');
  // The digit in a rule id is part of the id, not a number.
  assert.ok(!tokens.some((t) => t.text === '2' && t.scopes.some((s) => s.startsWith('constant'))));
  assert.equal(scopeOf(tokens, '{'), 'punctuation.section.block.mailgate');
  assert.equal(scopeOf(tokens, '['), 'punctuation.section.brackets.mailgate');
  assert.equal(scopeOf(tokens, '('), 'punctuation.section.parens.mailgate');
});

test('the shipped policies tokenize without invalid tokens', async () => {
  const dir = path.join(here, '..', '..', '..', 'policies');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.policy'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const tokens = await tokenize(text);
    const bad = tokens.filter((t) => t.scopes.some((s) => s.startsWith('invalid')));
    assert.deepEqual(bad, [], f);
    // Every line that starts with `#` is a comment to its end.
    text.split('\n').forEach((line, n) => {
      if (line.trimStart().startsWith('#')) {
        const lineTokens = tokens.filter((t) => t.line === n && t.text.trim() !== '');
        assert.ok(
          lineTokens.every((t) => t.scopes.some((s) => s.startsWith('comment'))),
          `${f}:${n + 1}`,
        );
      }
    });
  }
});
