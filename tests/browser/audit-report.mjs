// The audit's HTML report in headless Chromium (docs/audit.md).
// Usage: node audit-report.mjs REPORT.html REPORT.jsonl SCREENSHOT.png
// Checks: no console error or page error; every mailbox of the JSON output is in the DOM
// with the same decisions; the filter and the "blocked only" toggle hide rows; no request
// leaves the file. Saves a screenshot.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { launch } from './launch.mjs';

const [html, jsonl, shot] = process.argv.slice(2);
const fail = (msg) => { console.error(`audit-report: ${msg}`); process.exitCode = 1; };

const records = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const mailboxes = records.filter((r) => 'mailbox' in r);
const ACTIONS = ['sync_incoming_email', 'sync_outgoing_email', 'sync_appointments_contacts_tasks'];

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const url = pathToFileURL(html).href;
  const requests = [];
  page.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
  await page.goto(url);

  // Same decisions as the JSON output, mailbox by mailbox.
  const dom = await page.$$eval('tr[data-mailbox-id]', (rows) => rows.map((r) => ({
    id: r.getAttribute('data-mailbox-id'),
    blocked: r.getAttribute('data-blocked'),
    cells: Object.fromEntries([...r.querySelectorAll('td[data-action]')]
      .map((c) => [c.getAttribute('data-action'), c.getAttribute('data-decision')])),
  })));
  if (dom.length !== mailboxes.length) fail(`${dom.length} rows for ${mailboxes.length} mailboxes`);
  for (const m of mailboxes) {
    const row = dom.find((r) => r.id === m.id);
    if (!row) { fail(`no row for mailbox ${m.id}`); continue; }
    const blocked = ACTIONS.some((a) => m.sync[a].decision === 'deny');
    if (row.blocked !== String(blocked)) fail(`${m.id}: data-blocked ${row.blocked}`);
    for (const a of ACTIONS) {
      if (row.cells[a] !== m.sync[a].decision) fail(`${m.id} ${a}: ${row.cells[a]} vs ${m.sync[a].decision}`);
    }
  }
  const users = records.filter((r) => 'user' in r).map((r) => r.user);
  const domUsers = await page.$$eval('tr[data-user]', (rows) => rows.map((r) => r.getAttribute('data-user')));
  if (JSON.stringify(users) !== JSON.stringify(domUsers)) fail(`users ${domUsers} vs ${users}`);

  const visible = () => page.$$eval('tr[data-mailbox-id]', (rows) =>
    rows.filter((r) => r.offsetParent !== null).map((r) => r.getAttribute('data-mailbox-id')));
  const all = await visible();
  if (all.length !== mailboxes.length) fail(`${all.length} rows visible before filtering`);

  // The text filter hides every row that does not match.
  const sam = mailboxes.find((m) => m.mailbox === 'Sam Rivera');
  await page.fill('input[data-filter]', 'sam rivera');
  const filtered = await visible();
  if (filtered.length !== 1 || filtered[0] !== sam.id) fail(`filter "sam rivera" shows ${filtered}`);
  await page.fill('input[data-filter]', '');

  // "Blocked only" hides the mailboxes that sync every workload.
  await page.check('input[data-blocked-only]');
  const blocked = await visible();
  const want = mailboxes.filter((m) => ACTIONS.some((a) => m.sync[a].decision === 'deny')).map((m) => m.id);
  if (JSON.stringify(blocked) !== JSON.stringify(want)) fail(`blocked only shows ${blocked}, want ${want}`);
  if (blocked.length >= mailboxes.length) fail('blocked only hides nothing');
  await page.uncheck('input[data-blocked-only]');

  // Plan steps: numbered, the first of Sam's names approve_mailbox.
  const steps = await page.$$eval(`details[data-details-for~="${sam.id}"] li[data-step]`,
    (lis) => lis.map((li) => [li.getAttribute('data-step'), li.getAttribute('data-action')]));
  if (!steps.length || steps[0][0] !== '1' || steps[0][1] !== 'approve_mailbox') fail(`Sam's steps ${JSON.stringify(steps)}`);

  if (errors.length) fail(`console errors: ${errors.join('; ')}`);
  if (requests.length) fail(`requests that leave the file: ${requests.join(', ')}`);

  // The screenshot for the docs: Sam's details open below the table.
  await page.$eval(`details[data-details-for~="${sam.id}"]`, (d) => { d.open = true; });
  await page.$eval('#mailboxes', (s) => s.scrollIntoView());
  await page.screenshot({ path: shot, fullPage: false });
} finally {
  await browser.close();
}
