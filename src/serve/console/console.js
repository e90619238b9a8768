// mailgate console: one ES module, no dependencies, served by `mailgate serve`.
// Every view is built from the server's JSON (/v1/schema, /v1/decide, /v1/graph,
// /v1/scenarios, /v1/audit); the URL fragment holds the state, nothing is stored on the
// server.

const view = document.getElementById('view');
const tokenForm = document.getElementById('token-form');
let token = sessionStorage.getItem('mailgate-token') || '';
let schema = null;
let revision = null;
// The request being edited: {action, parts: {NAME: {attr: value}}, params: {name: value}}.
let current = null;
let lastDecision = null;
let decideSeq = 0;
let scenarioCache = null;

// ---------- HTTP ----------

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    askToken();
    throw new Unauthorized('a token is needed');
  }
  return res;
}

function askToken() {
  tokenForm.hidden = false;
  document.getElementById('token-input').focus();
}

tokenForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = document.getElementById('token-input').value.trim();
  sessionStorage.setItem('mailgate-token', token);
  tokenForm.hidden = true;
  schema = null;
  route();
});

// ---------- helpers ----------

function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function b64urlEncode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64urlDecode(b64) {
  let s = b64.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  const bin = atob(s);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function hashParts() {
  const hash = location.hash.replace(/^#/, '');
  const eq = hash.indexOf('=');
  return eq < 0 ? [hash, ''] : [hash.slice(0, eq), hash.slice(eq + 1)];
}

function setNav(name) {
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function loadSchema() {
  if (schema) return schema;
  const res = await api('/v1/schema');
  schema = await res.json();
  revision = schema.revision;
  document.getElementById('revision').textContent = 'revision ' + revision.slice(0, 12);
  document.querySelector('[data-nav="audit"]').hidden = !schema.audit;
  return schema;
}

function entity(name) {
  return schema.entities.find((e) => e.name === name);
}

function action(name) {
  return schema.actions.find((a) => a.name === name);
}

// The parts of a request of `act`: the context, then each slot, each with its entity.
function partsOf(act) {
  return [{ name: schema.context.name, entity: schema.context }].concat(
    act.slots.map((s) => ({ name: s.name, entity: entity(s.entity) })));
}

function defaultValue(attr) {
  if (attr.default !== null && attr.default !== undefined) return structuredClone(attr.default);
  switch (attr.kind) {
    case 'set': return [];
    case 'bool': return false;
    case 'int': return 0;
    case 'enum': return schema.enums.find((e) => e.name === attr.enum).values[0];
    default: return '';
  }
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// A request from a batch line (unknown keys are kept out; missing ones get defaults).
function fromLine(line) {
  if (!line || typeof line !== 'object' || Array.isArray(line)) line = {};
  const act = action(line.action) || schema.actions[0];
  const req = { action: act.name, parts: {}, params: {} };
  for (const p of partsOf(act)) {
    const given = (line[p.name] && typeof line[p.name] === 'object') ? line[p.name] : {};
    const vals = {};
    for (const a of p.entity.attributes) {
      vals[a.name] = Object.prototype.hasOwnProperty.call(given, a.name) ? given[a.name] : defaultValue(a);
    }
    req.parts[p.name] = vals;
  }
  for (const p of act.params) {
    req.params[p.name] = Object.prototype.hasOwnProperty.call(line, p.name) ? line[p.name] : defaultValue(p);
  }
  return req;
}

// The batch line of a request: attributes equal to their default are left out.
function toLine(req) {
  const act = action(req.action);
  const line = { action: req.action };
  for (const p of partsOf(act)) {
    const obj = {};
    for (const a of p.entity.attributes) {
      const v = req.parts[p.name][a.name];
      if (a.default !== null && a.default !== undefined && same(v, a.default)) continue;
      obj[a.name] = v;
    }
    line[p.name] = obj;
  }
  for (const p of act.params) line[p.name] = req.params[p.name];
  return line;
}

function reqHash(req) {
  return '#req=' + b64urlEncode(JSON.stringify(toLine(req)));
}

// ---------- request view ----------

function validity(attr, value) {
  if (attr.kind === 'version' && !/^[0-9]+(\.[0-9]+)*$/.test(value)) {
    return 'a version: numbers separated by dots, e.g. 9.2.24';
  }
  if (attr.kind === 'string' && attr.required && value === '') return 'required';
  return '';
}

function control(path, attr, value, onChange) {
  const id = 'f-' + path.replace(/[^a-zA-Z0-9_-]/g, '_');
  const labelText = path;
  const fixed = attr.fixed ? h('span', { class: 'fixed-badge', title: 'fixed: why-not never proposes changing it' }, 'fixed') : null;
  let input;
  let err = null;
  if (attr.kind === 'enum') {
    const members = schema.enums.find((e) => e.name === attr.enum).values;
    input = h('select', { id, 'data-path': path, 'data-fixed': attr.fixed ? 'true' : null },
      members.map((m) => h('option', { value: m, selected: m === value }, m)));
    input.addEventListener('change', () => onChange(input.value));
    return h('div', { class: 'field' + (attr.fixed ? ' fixed' : '') },
      h('label', { for: id }, labelText, fixed), input);
  }
  if (attr.kind === 'set') {
    const members = schema.enums.find((e) => e.name === attr.enum).values;
    const chosen = new Set(Array.isArray(value) ? value : []);
    const boxes = members.map((m, i) => {
      const cid = id + '-' + i;
      const box = h('input', { type: 'checkbox', id: cid, value: m, checked: chosen.has(m) });
      box.addEventListener('change', () => {
        const now = members.filter((x, j) => document.getElementById(id + '-' + j).checked);
        onChange(now);
      });
      return h('label', { for: cid }, box, ' ', m);
    });
    const group = h('fieldset', { id, 'data-path': path, 'aria-label': path, 'data-fixed': attr.fixed ? 'true' : null },
      h('legend', {}, path), h('div', { class: 'checks' }, boxes));
    return h('div', { class: 'field' + (attr.fixed ? ' fixed' : '') },
      h('span', { class: 'label', id: id + '-label' }, labelText, fixed), group);
  }
  if (attr.kind === 'bool') {
    input = h('input', { type: 'checkbox', role: 'switch', id, 'data-path': path, checked: value === true,
      'aria-checked': value === true ? 'true' : 'false', 'data-fixed': attr.fixed ? 'true' : null });
    input.addEventListener('change', () => {
      input.setAttribute('aria-checked', input.checked ? 'true' : 'false');
      onChange(input.checked);
    });
    return h('div', { class: 'field' + (attr.fixed ? ' fixed' : '') },
      h('label', { for: id }, labelText, fixed), input);
  }
  if (attr.kind === 'int') {
    input = h('input', { type: 'number', id, 'data-path': path, value, step: 1 });
    input.addEventListener('input', () => {
      const n = Number.parseInt(input.value, 10);
      if (Number.isFinite(n)) onChange(n);
    });
    return h('div', { class: 'field' }, h('label', { for: id }, labelText, fixed), input);
  }
  // string and version: a text field, validated.
  const problem = validity(attr, value);
  err = h('span', { class: 'error-text', id: id + '-err', role: 'status' }, problem);
  input = h('input', { type: 'text', id, 'data-path': path, value, spellcheck: 'false',
    'aria-invalid': problem ? 'true' : 'false', 'aria-describedby': id + '-err',
    placeholder: attr.kind === 'version' ? 'e.g. 9.2.24' : '', 'data-fixed': attr.fixed ? 'true' : null });
  input.addEventListener('input', () => {
    const p = validity(attr, input.value);
    input.setAttribute('aria-invalid', p ? 'true' : 'false');
    err.textContent = p;
    onChange(input.value);
  });
  return h('div', { class: 'field' + (attr.fixed ? ' fixed' : '') },
    h('label', { for: id }, labelText, fixed), h('div', {}, input, err));
}

function renderForm(form) {
  const act = action(current.action);
  form.replaceChildren();
  const actId = 'f-action';
  const actSel = h('select', { id: actId, 'data-path': 'request.action' },
    schema.actions.map((a) => h('option', { value: a.name, selected: a.name === current.action }, a.name)));
  actSel.addEventListener('change', () => {
    const line = toLine(current);
    line.action = actSel.value;
    current = fromLine(line);
    renderForm(form);
    changed();
  });
  form.append(h('fieldset', {}, h('legend', {}, 'request'),
    h('div', { class: 'field' }, h('label', { for: actId }, 'action'), actSel),
    act.params.map((p) => control('request.' + p.name, Object.assign({ required: true }, p), current.params[p.name],
      (v) => { current.params[p.name] = v; changed(); }))));
  for (const part of partsOf(act)) {
    form.append(h('fieldset', { 'data-part': part.name },
      h('legend', {}, part.name + (part.name === part.entity.name ? '' : ' (' + part.entity.name + ')')),
      part.entity.attributes.map((a) => control(part.name + '.' + a.name, a, current.parts[part.name][a.name],
        (v) => { current.parts[part.name][a.name] = v; changed(); }))));
  }
}

// A line as given in the fragment or pasted, `{text, b64}`: it is decided exactly as given
// (an unknown key or a missing attribute is the server's to refuse, never the form's to
// repair) until the form is edited.
let raw = null;

function currentB64() {
  return raw ? raw.b64 : reqHash(current).slice(5);
}

// Shows the current request in the fragment and the paste box, and decides it.
function show() {
  const hash = '#req=' + currentB64();
  if (location.hash !== hash) history.replaceState(null, '', hash);
  const paste = document.getElementById('paste');
  if (paste && document.activeElement !== paste) paste.value = raw ? raw.text : JSON.stringify(toLine(current));
  decide();
}

// The form was edited: from now on the request is the form's.
function changed() {
  raw = null;
  show();
}

async function decide() {
  const seq = ++decideSeq;
  const out = document.getElementById('result');
  if (!out) return;
  out.setAttribute('aria-busy', 'true');
  let record;
  try {
    const res = await api('/v1/decide?explain=true&why_not=true', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: raw ? raw.text : JSON.stringify(toLine(current)),
    });
    record = await res.json();
  } catch (e) {
    if (e instanceof Unauthorized) return;
    record = { decision: 'deny', errors: [String(e)], rules: [], reasons: [] };
  }
  if (seq !== decideSeq) return;
  lastDecision = { action: current.action, record };
  renderResult(out, record);
  out.removeAttribute('aria-busy');
}

function valueText(v) {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
}

function changeText(c) {
  if (c.op === 'add') return 'add ' + valueText(c.value) + ' to ' + c.path;
  if (c.op === 'remove') return 'remove ' + valueText(c.value) + ' from ' + c.path;
  return 'set ' + c.path + ' to ' + valueText(c.value);
}

function applyOption(opt) {
  for (const c of opt.changes) {
    const dot = c.path.indexOf('.');
    const part = c.path.slice(0, dot);
    const attr = c.path.slice(dot + 1);
    const target = part === 'request' ? current.params : current.parts[part];
    if (!target) continue;
    const key = part === 'request' ? attr : attr;
    if (c.op === 'add') {
      const s = new Set(target[key] || []);
      s.add(c.value);
      const members = setMembers(part, attr);
      target[key] = members ? members.filter((m) => s.has(m)) : [...s];
    } else if (c.op === 'remove') {
      target[key] = (target[key] || []).filter((m) => m !== c.value);
    } else {
      target[key] = c.value;
    }
  }
  renderForm(document.getElementById('form'));
  changed();
}

function setMembers(part, attr) {
  const act = action(current.action);
  const p = partsOf(act).find((x) => x.name === part);
  const a = p && p.entity.attributes.find((x) => x.name === attr);
  return a && a.kind === 'set' ? schema.enums.find((e) => e.name === a.enum).values : null;
}

function renderResult(out, r) {
  out.replaceChildren();
  const decision = r.decision === 'allow' ? 'allow' : 'deny';
  out.append(h('section', { class: 'panel', 'aria-live': 'polite' },
    h('div', { class: 'decision', 'data-decision': decision }, decision.toUpperCase()),
    r.cause ? h('span', { class: 'muted' }, '  ' + r.cause) : null,
    (r.errors && r.errors.length) ? h('ul', { class: 'error-text' }, r.errors.map((e) => h('li', { 'data-error': '' }, e))) : null));
  out.append(h('section', { class: 'panel' }, h('h2', {}, 'Reasons'),
    (r.reasons && r.reasons.length) ? h('ul', {}, r.reasons.map((x) => h('li', { 'data-reason': '' }, x)))
      : h('p', { class: 'muted' }, 'none')));
  out.append(h('section', { class: 'panel' }, h('h2', {}, 'Determining rules'),
    (r.rules && r.rules.length)
      ? h('ul', {}, r.rules.map((id) => h('li', { 'data-rule': id },
        h('a', { href: '#graph=' + encodeURIComponent(current.action) }, id))))
      : h('p', { class: 'muted' }, 'none (no rule allows it: default deny)')));
  const cf = r.counterfactuals;
  if (cf) {
    const verb = decision === 'allow' ? 'denied' : 'allowed';
    const sec = h('section', { class: 'panel' }, h('h2', {}, 'Why not: it would be ' + verb + ' with any one of'));
    if (cf.error) sec.append(h('p', { class: 'error-text' }, cf.error));
    else if (!cf.options || !cf.options.length) sec.append(h('p', { class: 'muted' }, 'nothing: no change to what may change would make it ' + verb));
    else {
      cf.options.forEach((opt, i) => {
        const steps = Array.isArray(opt.steps) && opt.steps.length
          ? opt.steps.map((s, j) => h('li', { 'data-step': j + 1, 'data-action': s.action || null },
            s.text, s.warning ? h('span', { class: 'warning' }, ' (not recommended: ' + s.warning + ')') : null))
          : opt.changes.map((c, j) => h('li', { 'data-step': j + 1 }, changeText(c)));
        const btn = h('button', { type: 'button', class: 'primary', 'data-apply': i + 1 }, 'Apply option ' + (i + 1));
        btn.addEventListener('click', () => applyOption(opt));
        sec.append(h('div', { class: 'option', 'data-option': i + 1, 'data-cost': opt.cost ?? null },
          h('strong', {}, 'Option ' + (i + 1)),
          opt.cost !== undefined ? h('span', { class: 'muted' }, '  cost ' + opt.cost) : null,
          h('ol', {}, steps),
          h('p', { class: 'muted' }, 'then ' + opt.decision + (opt.rules && opt.rules.length ? ' by ' + opt.rules.join(', ') : '')),
          btn));
      });
      if (cf.complete === false) sec.append(h('p', { class: 'muted' }, 'more options exist'));
    }
    out.append(sec);
  }
  if (Array.isArray(r.explanation)) {
    const sec = h('section', { class: 'panel' }, h('h2', {}, 'Explanation'));
    for (const t of r.explanation) {
      sec.append(h('div', { 'data-trace': t.rule },
        h('strong', {}, t.effect + ' ' + t.rule), ' ',
        h('span', { class: 'res-' + t.result }, t.result),
        h('ul', { class: 'trace' }, t.steps.map((s) => h('li', { style: 'padding-left:' + (s.depth * 1.2) + 'rem' },
          h('span', { class: 'res-' + s.result }, s.result === 'true' ? '✓ ' : s.result === 'false' ? '✗ ' : '! '),
          s.text,
          s.values && s.values.length ? h('span', { class: 'muted' }, '   [' + s.values.join('; ') + ']') : null)))));
    }
    out.append(sec);
  }
}

async function requestView(b64) {
  setNav('req');
  await loadSchema();
  let line = null;
  let problem = '';
  raw = null;
  if (b64) {
    try {
      const text = b64urlDecode(b64);
      raw = { text, b64 };
      line = JSON.parse(text);
    } catch (e) { problem = 'the link holds no valid request: ' + e.message; }
  }
  if (!line && !raw) {
    // A first visit opens the first scenario request, so there is something to see.
    const sc = await scenarios().catch(() => null);
    const rows = (sc && sc.requests) || [];
    const denied = rows.find((r) => r.decision === 'deny') || rows[0];
    line = denied ? denied.line : { action: schema.actions[0].name };
  }
  current = fromLine(line);
  const paste = h('textarea', { id: 'paste', rows: 3, 'aria-describedby': 'paste-help' });
  const pasteErr = h('span', { class: 'error-text', role: 'status' }, problem);
  const applyPaste = h('button', { type: 'button' }, 'Use this line');
  applyPaste.addEventListener('click', () => {
    try {
      const l = JSON.parse(paste.value);
      if (!l || typeof l !== 'object' || Array.isArray(l)) throw new Error('a batch line is one JSON object');
      pasteErr.textContent = '';
      current = fromLine(l);
      raw = { text: paste.value.trim(), b64: b64urlEncode(paste.value.trim()) };
      renderForm(form);
      show();
    } catch (e) { pasteErr.textContent = e.message; }
  });
  const form = h('form', { id: 'form', 'aria-label': 'request', onsubmit: (e) => e.preventDefault() });
  view.replaceChildren(h('div', { class: 'cols' },
    h('div', {},
      h('section', { class: 'panel' },
        h('label', { for: 'paste' }, 'Batch line (paste one to decide it)'),
        paste,
        h('div', { class: 'toolbar' }, applyPaste, pasteErr),
        h('p', { id: 'paste-help', class: 'muted' }, 'One line of mailgate eval --batch input. The form below and the URL follow it.')),
      form),
    h('div', { id: 'result', 'aria-label': 'decision' })));
  renderForm(form);
  show();
}

// ---------- graph view ----------

async function graphView(name) {
  setNav('graph');
  await loadSchema();
  const actName = action(name) ? name : (current ? current.action : schema.actions[0].name);
  const sel = h('select', { id: 'graph-action' }, schema.actions.map((a) => h('option', { value: a.name, selected: a.name === actName }, a.name)));
  sel.addEventListener('change', () => { location.hash = '#graph=' + encodeURIComponent(sel.value); });
  const wrap = h('div', { class: 'graph-wrap' }, h('p', { class: 'muted' }, 'Laying out…'));
  const hits = lastDecision && lastDecision.action === actName ? (lastDecision.record.rules || []) : [];
  const back = current ? h('a', { href: '#req=' + currentB64() }, 'back to the request') : null;
  const fit = h('input', { type: 'checkbox', id: 'graph-fit' });
  fit.addEventListener('change', () => wrap.classList.toggle('fit', fit.checked));
  view.replaceChildren(h('div', { class: 'toolbar' }, h('label', { for: 'graph-action' }, 'Action'), sel,
    h('label', { for: 'graph-fit' }, fit, ' fit to the window'), back,
    hits.length ? h('span', { class: 'muted' }, 'highlighted: ' + hits.join(', ') + ' (determined the current request)') : null),
  wrap);
  const res = await api('/v1/graph/' + encodeURIComponent(actName) + '.svg');
  if (!res.ok) { wrap.replaceChildren(h('p', { class: 'error-text' }, (await res.json()).error)); return; }
  wrap.innerHTML = await res.text();
  // A wide graph opens on its start, not on its left margin.
  const start = wrap.querySelector('[data-kind="start"] rect');
  if (start) wrap.scrollLeft = Math.max(0, start.x.baseVal.value - wrap.clientWidth / 2);
  for (const id of hits) {
    for (const g of wrap.querySelectorAll('g[data-rule]')) {
      if (g.getAttribute('data-rule') === id) {
        g.classList.add('hit');
        g.setAttribute('data-determining', 'true');
      }
    }
  }
}

// ---------- scenario view ----------

async function scenarios() {
  if (scenarioCache) return scenarioCache;
  const res = await api('/v1/scenarios');
  scenarioCache = await res.json();
  return scenarioCache;
}

async function scenarioView() {
  setNav('scenarios');
  await loadSchema();
  const sc = await scenarios();
  const rows = sc.requests.map((r) => h('tr', {
    'data-file': r.file, 'data-request': r.request, 'data-expect': r.expect ?? '', 'data-decision': r.decision,
    'data-pass': r.pass ? 'true' : 'false',
  },
  h('td', {}, r.pass ? 'ok' : 'FAIL'),
  h('td', {}, r.file),
  h('td', {}, r.request),
  h('td', {}, h('a', { href: '#req=' + b64urlEncode(JSON.stringify(r.line)) }, r.summary)),
  h('td', {}, r.expect ?? '—'),
  h('td', { 'data-decision': r.decision }, r.decision),
  h('td', {}, r.rules.join(', '))));
  const again = h('button', { type: 'button' }, 'Run again');
  again.addEventListener('click', () => { scenarioCache = null; route(); });
  view.replaceChildren(
    h('p', { 'data-summary': '' }, again, ' ', h('strong', {}, sc.passed + ' passed, ' + sc.failed + ' failed'),
      h('span', { class: 'muted' }, '  (revision ' + sc.revision.slice(0, 12) + '; re-runs by itself when the policies change)')),
    h('ul', { class: 'error-text', hidden: !sc.errors.length }, sc.errors.map((e) => h('li', { 'data-file-error': e.file }, h('pre', {}, e.error)))),
    h('table', {}, h('thead', {}, h('tr', {}, ['', 'file', 'request', 'summary', 'expect', 'decision', 'rules'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)));
}

// ---------- audit view ----------

async function auditView() {
  setNav('audit');
  await loadSchema();
  const res = await api('/v1/audit');
  const data = await res.json();
  if (!res.ok) { view.replaceChildren(h('p', { class: 'error-text' }, data.error)); return; }
  const mailboxes = data.records.filter((r) => r.mailbox !== undefined);
  const users = data.records.filter((r) => r.user !== undefined);
  const summary = data.records.find((r) => r.summary !== undefined);
  const actions = mailboxes.length ? Object.keys(mailboxes[0].sync) : [];
  const link = (id, act) => {
    const line = data.requests[id] && data.requests[id][act];
    return line ? '#req=' + b64urlEncode(JSON.stringify(line)) : null;
  };
  const filter = h('input', { type: 'search', id: 'audit-filter', 'data-filter': '' });
  const blockedOnly = h('input', { type: 'checkbox', id: 'audit-blocked', 'data-blocked-only': '' });
  const body = h('tbody', {}, mailboxes.map((m) => {
    const blocked = actions.some((a) => m.sync[a].decision !== 'allow');
    const first = actions.find((a) => m.sync[a].decision !== 'allow') || actions[0];
    const plans = [];
    for (const a of actions) {
      const p = m.sync[a].plans;
      const cf = m.sync[a].counterfactuals;
      if (!(Array.isArray(p) && p.length) && m.sync[a].decision !== 'allow' && cf && Array.isArray(cf.options) && cf.options.length) {
        // Without fix plans in the report, the smallest why-not option.
        plans.push(h('div', {}, h('span', { class: 'muted' }, a + ': would be allowed with'),
          h('ol', {}, cf.options[0].changes.map((c, j) => h('li', { 'data-step': j + 1 }, changeText(c))))));
      } else if (Array.isArray(p) && p.length) {
        plans.push(h('div', {}, h('span', { class: 'muted' }, a + ': to fix'),
          h('ol', {}, (p[0].steps || []).map((s, j) => h('li', { 'data-step': j + 1, 'data-action': s.action || null },
            s.text, s.who && s.who.length ? h('span', { class: 'muted' }, ' (can do it: ' + s.who.join(', ') + ')') : null)))));
      }
    }
    return h('tr', { 'data-mailbox-id': m.id, 'data-blocked': blocked ? 'true' : 'false' },
      h('td', {}, h('a', { href: link(m.id, first), 'data-open-request': '' }, m.mailbox), h('div', { class: 'muted' }, m.email)),
      actions.map((a) => h('td', { 'data-action': a, 'data-decision': m.sync[a].decision },
        h('a', { href: link(m.id, a) }, m.sync[a].decision),
        (m.sync[a].reasons || []).length ? h('div', { class: 'muted' }, m.sync[a].reasons.join('; ')) : null)),
      h('td', {}, plans),
      h('td', {}, (m.approvers || []).join(', ')),
      h('td', {}, (m.warnings || []).join('; ')));
  }));
  const apply = () => {
    const q = filter.value.toLowerCase();
    for (const tr of body.rows) {
      const hide = (blockedOnly.checked && tr.dataset.blocked !== 'true') || (q && !tr.textContent.toLowerCase().includes(q));
      tr.hidden = hide;
    }
  };
  filter.addEventListener('input', apply);
  blockedOnly.addEventListener('change', apply);
  view.replaceChildren(
    h('p', {}, h('strong', {}, 'Audit of ' + data.bundle), summary
      ? h('span', { class: 'muted' }, '  ' + summary.mailboxes + ' mailboxes; blocked: ' +
        Object.entries(summary.blocked || {}).map(([k, v]) => k + ' ' + v).join(', ')) : null),
    h('div', { class: 'toolbar' }, h('label', { for: 'audit-filter' }, 'Filter mailboxes'), filter,
      h('label', { for: 'audit-blocked' }, blockedOnly, ' blocked only')),
    h('table', {}, h('thead', {}, h('tr', {}, ['mailbox', ...actions, 'fix', 'approvers', 'warnings'].map((t) => h('th', { scope: 'col' }, t)))), body),
    h('h2', {}, 'Users'),
    h('table', {}, h('thead', {}, h('tr', {}, ['user', 'change_approval_settings', 'assign_delegated_mailbox_approver', 'can approve'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, users.map((u) => h('tr', { 'data-user': u.user },
        h('td', {}, u.user), h('td', { 'data-decision': u.change_approval_settings }, u.change_approval_settings),
        h('td', { 'data-decision': u.assign_delegated_mailbox_approver }, u.assign_delegated_mailbox_approver),
        h('td', {}, u.can_approve))))));
}

// ---------- routing and hot reload ----------

async function route() {
  const [name, arg] = hashParts();
  try {
    if (name === 'graph') await graphView(decodeURIComponent(arg));
    else if (name === 'scenarios') await scenarioView();
    else if (name === 'audit') await auditView();
    else if (name === 'req' && current && arg && arg === currentB64() && document.getElementById('form')) setNav('req');
    else if (name === 'req' && !arg && current) await requestView(currentB64());
    else await requestView(name === 'req' ? arg : '');
  } catch (e) {
    if (!(e instanceof Unauthorized)) view.replaceChildren(h('p', { class: 'error-text' }, String(e)));
  }
}

// What identifies the served state: the revision, and the time of the last reload (a
// scenario edit reloads without changing the revision, and re-runs the scenarios).
let servedKey = null;

async function poll() {
  if (!schema) return;
  try {
    const res = await api('/v1/status');
    const st = await res.json();
    const key = st.revision + '|' + (st.last_reload && st.last_reload.at);
    if (servedKey === null) { servedKey = key; return; }
    if (key === servedKey) return;
    servedKey = key;
    scenarioCache = null;
    const [name] = hashParts();
    if (st.revision !== revision) {
      schema = null;
      await loadSchema();
      if (name !== 'scenarios' && name !== 'audit' && name !== 'graph' && current) {
        current = fromLine(toLine(current));
        const form = document.getElementById('form');
        if (form) renderForm(form);
        decide();
        return;
      }
    }
    if (name === 'scenarios' || name === 'audit' || name === 'graph') await route();
  } catch (e) { /* the server is restarting: try again later */ }
}

window.addEventListener('hashchange', route);
setInterval(poll, 1500);
route();
