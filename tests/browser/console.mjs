// Drives the console of a running `mailgate serve` in headless Chromium.
//
//   node console.mjs
//
// Environment (set by the Rust test `console::browser_drives_the_console`):
//   MAILGATE_URL          base URL of a server started on a copy of the policies, with --bundle
//   MAILGATE_POLICY_DIR   that copy (a scenario is edited to check the hot-reload re-run)
//   MAILGATE_RULES        JSON file: {ACTION: [rule ids]}, from `mailgate coverage --format json`
//   MAILGATE_TOKEN_URL    base URL of a server started with --token
//   MAILGATE_TOKEN        that token
//   MAILGATE_SCREENSHOTS  if set, a folder for console-{request,graph,scenarios,audit}.png
//
// Prints one line per check and exits 1 on the first failure.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './launch.mjs';

const base = process.env.MAILGATE_URL;
const policyDir = process.env.MAILGATE_POLICY_DIR;
const rulesByAction = JSON.parse(readFileSync(process.env.MAILGATE_RULES, 'utf8'));
const shots = process.env.MAILGATE_SCREENSHOTS || '';
const TIMEOUT = 60000;

function fail(msg) {
  console.error('FAIL ' + msg);
  process.exitCode = 1;
  throw new Error(msg);
}

function check(cond, msg) {
  if (!cond) fail(msg);
  console.log('ok   ' + msg);
}

function b64url(text) {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function fromB64url(b64) {
  return Buffer.from(b64, 'base64url').toString('utf8');
}

async function decide(line, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(base + '/v1/decide?explain=true&why_not=true', { method: 'POST', headers, body: JSON.stringify(line) });
  return res.json();
}

const browser = await launch();
const errors = [];
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.setDefaultTimeout(TIMEOUT);
}

// Shows `hash` in the page without reloading it, and waits for the view to be rebuilt.
async function go(page, hash, selector) {
  await page.evaluate((h) => {
    document.getElementById('view').replaceChildren();
    location.hash = h;
  }, hash);
  await page.waitForSelector(selector);
}

async function shownDecision(page) {
  await page.waitForSelector('#result:not([aria-busy]) [data-decision]');
  return page.$eval('[data-decision]', (e) => e.getAttribute('data-decision'));
}

try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  watch(page);

  // --- request view: opening the console decides something.
  await page.goto(base + '/');
  const first = await shownDecision(page);
  check(first === 'allow' || first === 'deny', 'the console opens on a decided request (' + first + ')');
  const labelled = await page.$$eval('[data-path]', (els) => els.every((el) => {
    if (el.tagName === 'FIELDSET') return !!el.querySelector('legend') && [...el.querySelectorAll('input')].every((i) => i.labels && i.labels.length);
    return el.labels && el.labels.length > 0;
  }));
  check(labelled, 'every [data-path] control has a label');

  // --- scenario requests: the DOM shows what /v1/decide says.
  const scen = await (await fetch(base + '/v1/scenarios')).json();
  check(scen.requests.length > 0, 'the served folder has scenario requests (' + scen.requests.length + ')');
  // Every request with a failing or denied expectation, plus every fifth: a spread of both
  // decisions across every file, in bounded time.
  const sample = scen.requests.filter((r, i) => i % 5 === 0 || r.decision === 'deny').slice(0, 80);
  for (const r of sample) {
    const hash = '#req=' + b64url(JSON.stringify(r.line));
    await go(page, hash, '#result');
    const dom = await shownDecision(page);
    const api = await decide(r.line);
    if (dom !== api.decision) fail(`${r.file} request ${r.request}: DOM says ${dom}, /v1/decide says ${api.decision}`);
    const rules = await page.$$eval('[data-rule]', (els) => els.map((e) => e.getAttribute('data-rule')));
    if (JSON.stringify(rules) !== JSON.stringify(api.rules)) fail(`${r.file} request ${r.request}: rules ${rules} vs ${api.rules}`);
    const reasons = await page.$$eval('[data-reason]', (els) => els.length);
    if (reasons !== api.reasons.length) fail(`${r.file} request ${r.request}: ${reasons} reasons shown, ${api.reasons.length} decided`);
    const options = await page.$$eval('[data-option]', (els) => els.length);
    const apiOptions = api.counterfactuals && api.counterfactuals.options ? api.counterfactuals.options.length : 0;
    if (options !== apiOptions) fail(`${r.file} request ${r.request}: ${options} options shown, ${apiOptions} computed`);
  }
  check(true, `${sample.length} scenario requests: decision, rules, reasons and options equal /v1/decide`);

  // Lines the form cannot show as given are decided as given: the server refuses them,
  // and the page says deny too (the form never repairs a request into an allow).
  const good = scen.requests.find((r) => r.decision === 'allow').line;
  const strange = [
    JSON.stringify(Object.assign({}, good, { user: Object.assign({}, good.user, { nickname: 'x' }) })),
    JSON.stringify(Object.assign({}, good, { mailbox: {} })),
    JSON.stringify(Object.assign({}, good, { action: 'approve_mailbx' })),
    '{"action": ',
  ];
  const errorsBefore = errors.length;
  for (const text of strange) {
    await go(page, '#req=' + b64url(text), '#result');
    const dom = await shownDecision(page);
    const res = await fetch(base + '/v1/decide', { method: 'POST', body: text });
    const api = await res.json();
    if (dom !== api.decision || dom !== 'deny') fail(`${text}: DOM says ${dom}, /v1/decide says ${api.decision}`);
    const hash = await page.evaluate(() => location.hash);
    if (hash !== '#req=' + b64url(text)) fail(`${text}: the fragment changed to ${hash}`);
  }
  // The browser logs each 400 answer; those are the point here, and nothing else may be.
  const during = errors.splice(errorsBefore);
  check(during.every((e) => / 400 /.test(e)), 'invalid lines in the fragment are decided as given (deny, as /v1/decide) and the fragment kept');

  // --- following a why-not option to an allow, and editing a control.
  const denied = scen.requests.find((r) => r.decision === 'deny' && (r.line.action === 'approve_mailbox'));
  const deniedLine = denied.line;
  await go(page, '#req=' + b64url(JSON.stringify(deniedLine)), '#result');
  check(await shownDecision(page) === 'deny', 'a denied scenario request shows deny');
  const before = await page.evaluate(() => location.hash);
  await page.waitForSelector('[data-option] [data-step]');
  await page.click('[data-option="1"] button');
  await page.waitForFunction(() => document.querySelector('#result:not([aria-busy]) [data-decision="allow"]'));
  const after = await page.evaluate(() => location.hash);
  check(after !== before, 'applying the first why-not option changes the fragment');
  const applied = JSON.parse(fromB64url(after.slice(5)));
  check((await decide(applied)).decision === 'allow', 'the fragment after the option is a request /v1/decide allows');
  if (shots) await page.screenshot({ path: join(shots, 'console-request.png'), fullPage: false });

  // Editing one control by hand: undo the option's first change through the form.
  const apiNow = await decide(applied);
  const flip = (apiNow.counterfactuals.options || []).find((o) => o.changes.length === 1);
  check(!!flip, 'the allowed request has a one-change option back to deny');
  const c = flip.changes[0];
  const sel = `[data-path="${c.path}"]`;
  const hashBefore = await page.evaluate(() => location.hash);
  const tag = await page.$eval(sel, (e) => e.tagName + ':' + (e.getAttribute('type') || ''));
  if (tag.startsWith('FIELDSET')) {
    await page.click(`${sel} input[value="${String(c.value).replace(/"/g, '\\"')}"]`);
  } else if (tag.startsWith('SELECT')) {
    await page.selectOption(sel, String(c.value));
  } else if (tag === 'INPUT:checkbox') {
    await page.click(sel);
  } else {
    await page.fill(sel, String(c.value));
  }
  await page.waitForFunction(() => document.querySelector('#result:not([aria-busy]) [data-decision="deny"]'));
  const hashAfter = await page.evaluate(() => location.hash);
  check(hashAfter !== hashBefore, `editing ${c.path} changes the decision to deny and the fragment`);
  check((await decide(JSON.parse(fromB64url(hashAfter.slice(5))))).decision === 'deny', 'the edited fragment is the request shown');

  // Keyboard: focus moves through the form's controls.
  await page.focus('[data-path="request.action"]');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
  check(['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(focused), 'Tab moves from the action to the next control');

  // --- graph view: every rule id of every action, and the highlight.
  for (const [act, ids] of Object.entries(rulesByAction)) {
    await go(page, '#graph=' + act, `svg[data-graph="${act}"]`);
    const text = await page.$eval(`svg[data-graph="${act}"]`, (s) => s.textContent);
    for (const id of ids) if (!text.includes(id)) fail(`graph of ${act} lacks rule ${id}`);
  }
  check(true, 'each action\'s graph contains every rule id of the action');
  const allowed = scen.requests.find((r) => r.decision === 'allow' && r.line.action === 'approve_mailbox');
  await go(page, '#req=' + b64url(JSON.stringify(allowed.line)), '#result');
  await shownDecision(page);
  await go(page, '#graph=approve_mailbox', 'svg[data-graph="approve_mailbox"]');
  const hit = await page.$$eval('svg [data-rule].hit', (els) => [...new Set(els.map((e) => e.getAttribute('data-rule')))]);
  check(JSON.stringify(hit) === JSON.stringify(allowed.rules), `the graph highlights the rule that determined the request (${hit})`);
  if (shots) await page.screenshot({ path: join(shots, 'console-graph.png'), fullPage: false });

  // --- scenario view: one row per request, failing first, re-run after a reload.
  await go(page, '#scenarios', 'tr[data-file]');
  const rows = await page.$$eval('tr[data-file]', (els) => els.map((e) => ({
    file: e.dataset.file, request: Number(e.dataset.request), expect: e.dataset.expect, decision: e.dataset.decision,
  })));
  check(rows.length === scen.requests.length, `the scenario view has one row per request (${rows.length})`);
  const bad = rows.filter((r) => r.expect && r.expect !== r.decision).length;
  check(bad === 0, 'every shipped scenario passes in the view');
  if (shots) await page.screenshot({ path: join(shots, 'console-scenarios.png'), fullPage: false });
  // Flip one expectation in the served folder: the view re-runs by itself.
  const victim = rows[rows.length - 1];
  const path = join(policyDir, victim.file);
  const yaml = readFileSync(path, 'utf8');
  const other = victim.decision === 'allow' ? 'deny' : 'allow';
  let seen = 0;
  const edited = yaml.replace(/expect:\s*(allow|deny)/g, (m, e) => {
    seen += 1;
    return seen === victim.request ? 'expect: ' + other : m;
  });
  check(edited !== yaml, `flipping request ${victim.request}'s expectation in ${victim.file}`);
  writeFileSync(path, edited);
  await page.waitForFunction(([file, req]) => {
    const first = document.querySelector('tr[data-file]');
    return first && first.dataset.file === file && first.dataset.request === String(req) && first.dataset.pass === 'false';
  }, [victim.file, victim.request], { timeout: TIMEOUT });
  check(true, 'after the hot reload the failing request comes first, without a page reload');
  writeFileSync(path, yaml);

  // --- audit view.
  await go(page, '#audit', 'tr[data-mailbox-id]');
  const audit = await (await fetch(base + '/v1/audit')).json();
  const mbs = audit.records.filter((r) => r.mailbox !== undefined);
  const shown = await page.$$eval('tr[data-mailbox-id]', (els) => els.length);
  check(shown === mbs.length, `the audit view has one row per mailbox (${shown})`);
  for (const m of mbs) {
    for (const [act, d] of Object.entries(m.sync)) {
      const dom = await page.$eval(`tr[data-mailbox-id="${m.id}"] [data-action="${act}"]`, (e) => e.dataset.decision);
      if (dom !== d.decision) fail(`audit ${m.mailbox} ${act}: ${dom} vs ${d.decision}`);
    }
  }
  check(true, 'every audit cell shows the report\'s decision');
  check(await page.$$eval('[data-user]', (els) => els.length) > 0, 'the audit view lists the users');
  if (shots) await page.screenshot({ path: join(shots, 'console-audit.png'), fullPage: false });
  const blocked = mbs.find((m) => Object.values(m.sync).some((d) => d.decision !== 'allow')) || mbs[0];
  await page.click(`tr[data-mailbox-id="${blocked.id}"] a[data-open-request]`);
  const opened = await shownDecision(page);
  const firstBlocked = Object.entries(blocked.sync).find(([, d]) => d.decision !== 'allow') || Object.entries(blocked.sync)[0];
  check(opened === firstBlocked[1].decision, `clicking mailbox ${blocked.mailbox} opens its ${firstBlocked[0]} request (${opened})`);
  await page.close();

  // --- the token: asked for, then sent on every call.
  if (process.env.MAILGATE_TOKEN_URL) {
    const tp = await browser.newPage();
    const tokenErrors = [];
    tp.on('pageerror', (e) => tokenErrors.push(e.message));
    tp.setDefaultTimeout(TIMEOUT);
    await tp.goto(process.env.MAILGATE_TOKEN_URL + '/');
    await tp.waitForSelector('#token-form:not([hidden])');
    await tp.fill('#token-input', process.env.MAILGATE_TOKEN);
    await tp.press('#token-input', 'Enter');
    await tp.waitForSelector('#result:not([aria-busy]) [data-decision]');
    check(tokenErrors.length === 0, 'with --token the console asks for it and then decides');
    await tp.close();
  }

  check(errors.length === 0, 'no console errors' + (errors.length ? ': ' + errors.join(' | ') : ''));
} catch (e) {
  if (!process.exitCode) console.error('FAIL ' + (e && e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
