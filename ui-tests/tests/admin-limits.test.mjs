// The admin page's limits and usage against the real stack: a limit overridden through the page and
// in force for another page's session, then back to the configured value; a refused value shown at
// its field; a small daily token budget that lets one task of the main page through and refuses the
// next, with the main page showing the session's tokens of today; the tokens in the usage table;
// an empty usage; axe on the new sections.
//
// The tests run in order and share one logged-in admin page. Every override is cleared at the end,
// whatever happened, so the files after this one run under the configured limits.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { env, fetchJson, generate, launch, openPage, paste, screenshot, seriousViolations } from '../lib/harness.mjs';

const FIELDS = [
  'max_queued_per_session',
  'max_queued_per_client',
  'max_running_per_session',
  'max_queue_depth',
  'daily_tokens_per_session',
  'daily_tokens_per_client',
];

let browser;
/** The logged-in admin page, shared by the tests below. */
let admin;
/** The main page whose session spends the budget. */
let main;

before(async () => {
  assert.ok(env.adminPassword, 'AIUT_UI_ADMIN_PASSWORD is not set');
  browser = await launch();
  admin = await openPage(browser, { path: '/admin' });
  await admin.page.fill('#login-password', env.adminPassword);
  await admin.page.click('#login-submit');
  await admin.page.waitForSelector('body[data-view="admin"]');
  await admin.page.waitForSelector('#limits-body tr[data-limit="max_queue_depth"]');
});

after(async () => {
  // Whatever happened above: back to the configuration.
  if (admin) {
    await admin.page
      .evaluate(async (fields) => {
        const session = await (await fetch('/api/admin/session')).json();
        await fetch('/api/admin/limits', {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': session.csrf_token },
          body: JSON.stringify(Object.fromEntries(fields.map((name) => [name, null]))),
        });
      }, FIELDS)
      .catch(() => {});
    await admin.context.close();
  }
  await main?.context.close();
  await browser?.close();
});

function limitRow(page, name) {
  return page.locator(`#limits-body tr[data-limit="${name}"]`);
}

async function cell(page, name, field) {
  return (await limitRow(page, name).locator(`[data-field="${field}"]`).textContent()).trim();
}

/** Clicks Save and returns the body of the `PATCH` it sent. */
async function save(page) {
  const sent = page.waitForRequest(
    (request) => request.method() === 'PATCH' && new URL(request.url()).pathname === '/api/admin/limits',
  );
  await page.click('#limits-save');
  const request = await sent;
  assert.ok(request.headers()['x-csrf-token']?.length >= 32, 'the change carries the CSRF token');
  return request.postDataJSON();
}

/** The main page's `GET /api/queue`, its own session's view. */
async function queueOfMain() {
  return (await fetchJson(main.page, '/api/queue')).body;
}

/** A source no earlier task had: the result cache cannot answer it. */
function freshSource(name) {
  const tag = `${name}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  return `def ${tag}(a, b):\n    """Adds two numbers."""\n    return a + b\n`;
}

test('the Limits section shows each limit in force, as configured, and whether it is overridden', { timeout: 30000 }, async () => {
  const { page } = admin;
  const limits = (await fetchJson(page, '/api/admin/limits')).body;
  const names = await page.$$eval('#limits-body tr', (rows) => rows.map((tr) => tr.dataset.limit));
  assert.deepEqual(names, FIELDS);
  for (const name of FIELDS) {
    const format = (value) => (value === undefined ? 'none' : new Intl.NumberFormat('en').format(value));
    assert.equal(await cell(page, name, 'in_force'), format(limits.in_force[name]), name);
    assert.equal(await cell(page, name, 'configured'), format(limits.configured[name]), name);
    const overridden = limits.overrides[name] !== undefined;
    assert.equal(await cell(page, name, 'overridden'), overridden ? 'yes' : 'no', name);
    // Each input has its label.
    const label = await page.textContent(`label[for="limit-${name}"]`);
    assert.ok(label.trim().length > 0, name);
  }
  const headers = await page.$$eval('#limits-table thead th', (cells) => cells.map((th) => th.textContent));
  for (const wanted of ['Limit', 'In force', 'Configured', 'Overridden', 'Override']) {
    assert.ok(headers.includes(wanted), headers.join(', '));
  }
  admin.assertClean();
});

test('a limit set through the page is in force for another session, then back to the configured value', { timeout: 30000 }, async () => {
  const { page } = admin;
  const configured = Number((await cell(page, 'max_queued_per_session', 'configured')).replace(/,/g, ''));
  const value = configured === 7 ? 8 : 7;
  main = await openPage(browser);
  assert.equal((await queueOfMain()).yours.max_queued, configured);

  await page.fill('#limit-max_queued_per_session', String(value));
  const sent = await save(page);
  assert.deepEqual(sent, { max_queued_per_session: value }, 'only the changed field is sent');
  await page.waitForSelector('#limits-body tr[data-limit="max_queued_per_session"][data-overridden="true"]');
  assert.equal(await cell(page, 'max_queued_per_session', 'in_force'), String(value));
  assert.equal(await cell(page, 'max_queued_per_session', 'configured'), String(configured));
  assert.equal(await cell(page, 'max_queued_per_session', 'overridden'), 'yes');
  assert.match(await page.textContent('#limits-result'), /Saved: Queued tasks per session is 7|Saved: Queued tasks per session is 8/);
  assert.equal(await page.textContent('#limits-updated-by'), 'admin');
  const at = await page.getAttribute('#limits-updated-at', 'datetime');
  assert.ok(Date.now() - Date.parse(at) < 60000, at);

  // In force from the next request, on whichever replica answers it.
  assert.equal((await queueOfMain()).yours.max_queued, value);

  // Saving again with nothing changed sends nothing.
  const patches = [];
  const seen = (request) => request.method() === 'PATCH' && patches.push(request.url());
  page.on('request', seen);
  await page.click('#limits-save');
  await page.waitForFunction(() => document.getElementById('limits-result').textContent.includes('Nothing to save'));
  page.off('request', seen);
  assert.deepEqual(patches, []);

  const cleared = page.waitForRequest((request) => request.method() === 'PATCH');
  await page.click('#limits-body button[data-clear="max_queued_per_session"]');
  assert.deepEqual((await cleared).postDataJSON(), { max_queued_per_session: null });
  await page.waitForSelector('#limits-body tr[data-limit="max_queued_per_session"][data-overridden="false"]');
  assert.equal(await cell(page, 'max_queued_per_session', 'in_force'), String(configured));
  assert.equal(await page.inputValue('#limit-max_queued_per_session'), '');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'limit-max_queued_per_session');
  assert.match(await page.textContent('#limits-result'), /follows the configuration again/);
  assert.equal((await queueOfMain()).yours.max_queued, configured);

  await page.click('#audit-refresh');
  await page.waitForSelector('#audit-body tr[data-action="limits_changed"]');
  admin.assertClean();
  main.assertClean();
});

test('a value the API refuses is shown at its field with the API\'s message (422)', { timeout: 30000 }, async () => {
  const { page } = admin;
  await page.fill('#limit-max_queue_depth', '0');
  await save(page);
  await page.waitForSelector('#limit-max_queue_depth-error:not([hidden])');
  assert.match(
    await page.textContent('#limit-max_queue_depth-error'),
    /Field `max_queue_depth`: a whole number from 1 to \d+, or null to clear it\. \(422 invalid_limits\)/,
  );
  assert.equal(await page.getAttribute('#limit-max_queue_depth', 'aria-invalid'), 'true');
  assert.equal(await page.getAttribute('#limit-max_queue_depth', 'aria-errormessage'), 'limit-max_queue_depth-error');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'limit-max_queue_depth');
  assert.equal(await cell(page, 'max_queue_depth', 'overridden'), 'no', 'nothing was changed');
  assert.equal(await page.isVisible('#limits-error'), false);
  await screenshot(page, 'admin-limits-refused');

  await page.fill('#limit-max_queue_depth', '');
  await page.click('#limits-save');
  await page.waitForFunction(() => document.getElementById('limits-result').textContent.includes('Nothing to save'));
  assert.equal(await page.isVisible('#limit-max_queue_depth-error'), false);
  assert.equal(await page.getAttribute('#limit-max_queue_depth', 'aria-invalid'), null);
  admin.assertClean();
});

test('a daily session budget lets one task through, refuses the next, and the main page shows the tokens', { timeout: 90000 }, async () => {
  const { page } = admin;
  await page.fill('#limit-daily_tokens_per_session', '1');
  assert.deepEqual(await save(page), { daily_tokens_per_session: 1 });
  await page.waitForSelector('#limits-body tr[data-limit="daily_tokens_per_session"][data-overridden="true"]');
  assert.equal(await cell(page, 'daily_tokens_per_session', 'in_force'), '1');
  assert.equal(await cell(page, 'daily_tokens_per_session', 'configured'), 'none');

  // A session of its own, which has spent nothing yet.
  await main.context.close();
  main = await openPage(browser);
  const { page: mainPage } = main;
  await mainPage.waitForSelector('#queue-tokens:not([hidden])');
  assert.equal(await mainPage.textContent('#queue-tokens'), '· tokens today: 0 of 1');
  assert.equal(await mainPage.getAttribute('#queue-tokens', 'data-spent'), 'false');

  await mainPage.selectOption('#model', 'simulator');
  await mainPage.fill('#file-name', 'budget_first.py');
  await paste(mainPage, freshSource('first'));
  const first = await generate(mainPage);
  assert.equal(first.status, 202, JSON.stringify(first.body));
  await mainPage.waitForSelector('#status[data-status="succeeded"]', { timeout: 45000 });

  const queue = await queueOfMain();
  assert.equal(queue.yours.daily_token_budget, 1);
  assert.ok(queue.yours.tokens_today > 1, `the simulator's tokens: ${JSON.stringify(queue.yours)}`);

  await mainPage.fill('#file-name', 'budget_second.py');
  await paste(mainPage, freshSource('second'));
  const second = await generate(mainPage);
  assert.equal(second.status, 429, JSON.stringify(second.body));
  assert.equal(second.body.error.code, 'daily_token_budget_spent');
  await mainPage.waitForSelector('#error[data-status="429"]:not([hidden])');
  assert.equal(await mainPage.getAttribute('#error', 'data-code'), 'daily_token_budget_spent');
  assert.equal(await mainPage.textContent('#error-title'), 'Today\'s token budget is spent.');
  const message = await mainPage.textContent('#error-message');
  assert.match(message, /^This session spent \d+ model tokens today, and the daily budget is 1; it is renewed at midnight UTC/);
  assert.match(await mainPage.textContent('#error-code'), /daily_token_budget_spent/);
  // Renewed at midnight: no countdown of hours, and Generate stays usable (cached answers are served).
  assert.equal(await mainPage.isVisible('#error-retry'), false);
  assert.equal(await mainPage.isDisabled('#generate'), false);

  const spent = new Intl.NumberFormat('en').format(queue.yours.tokens_today);
  await mainPage.waitForFunction(
    (text) => document.getElementById('queue-tokens').textContent === text,
    `· tokens today: ${spent} of 1`,
  );
  assert.equal(await mainPage.getAttribute('#queue-tokens', 'data-spent'), 'true');
  await screenshot(mainPage, 'main-budget-spent');
  main.assertClean();
  admin.assertClean();
});

test('the Usage table lists the simulator\'s tokens of today, per day and in total', { timeout: 30000 }, async () => {
  const { page } = admin;
  const usage = (await fetchJson(page, '/api/admin/usage?days=1')).body;
  const today = usage.days.find((entry) => entry.model === 'simulator' && entry.day === usage.today);
  assert.ok(today && today.prompt_tokens + today.completion_tokens > 0, JSON.stringify(usage));

  const asked = page.waitForResponse((response) => new URL(response.url()).search === '?days=1');
  await page.selectOption('#usage-days', '1');
  await asked;
  const row = page.locator(`#usage-body tr[data-model="simulator"][data-today="true"]`);
  await row.waitFor();
  const count = (value) => new Intl.NumberFormat('en').format(value);
  assert.equal(await row.locator('[data-field="prompt_tokens"]').textContent(), count(today.prompt_tokens));
  assert.equal(await row.locator('[data-field="completion_tokens"]').textContent(), count(today.completion_tokens));
  assert.equal(await row.locator('[data-field="total_tokens"]').textContent(), count(today.prompt_tokens + today.completion_tokens));
  assert.equal(await row.locator('[data-field="attempts"]').textContent(), count(today.attempts));
  assert.match(await row.locator('td').first().textContent(), /\(today\)$/);
  assert.equal(await page.locator('#usage-body tr').count(), usage.days.length, 'today only');

  const total = page.locator('#usage-totals-body tr[data-model="simulator"]');
  assert.equal(await total.locator('[data-field="prompt_tokens"]').textContent(), count(today.prompt_tokens));
  assert.equal(await page.isVisible('#usage-empty'), false);
  assert.match(await page.textContent('#usage-range'), /^Today, /);

  const month = page.waitForResponse((response) => new URL(response.url()).search === '?days=30');
  await page.selectOption('#usage-days', '30');
  await month;
  await page.waitForFunction(() => document.getElementById('usage-range').textContent.startsWith('From '));
  await screenshot(page, 'admin-usage');
  admin.assertClean();
});

test('no tokens spent: the Usage section says so (answer substituted in the browser)', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser, {
    path: '/admin',
    beforeLoad: (ctx) =>
      ctx.route('**/api/admin/usage?*', (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({ since: '2026-12-01', today: '2026-12-07', days: [], totals: [] }),
        }),
      ),
  });
  await page.fill('#login-password', env.adminPassword);
  await page.click('#login-submit');
  await page.waitForSelector('#usage-empty:not([hidden])');
  assert.equal(await page.textContent('#usage-empty'), 'No model tokens were spent in the last 7 days.');
  assert.equal(await page.isVisible('#usage-tables'), false);
  assertClean();
  await context.close();
});

test('the budget cleared through the page: the main page shows no tokens any more', { timeout: 30000 }, async () => {
  const { page } = admin;
  await page.click('#limits-body button[data-clear="daily_tokens_per_session"]');
  await page.waitForSelector('#limits-body tr[data-limit="daily_tokens_per_session"][data-overridden="false"]');
  assert.equal(await cell(page, 'daily_tokens_per_session', 'in_force'), 'none');
  const limits = (await fetchJson(page, '/api/admin/limits')).body;
  assert.deepEqual(limits.overrides, {}, 'no override is left');

  const queue = await queueOfMain();
  assert.equal(queue.yours.daily_token_budget, undefined);
  assert.equal(queue.yours.tokens_today, undefined);
  await main.page.reload();
  await main.page.waitForSelector('body[data-ready="true"]');
  await main.page.waitForSelector('#queue[data-state="ok"], #queue[data-state="busy"]');
  assert.equal(await main.page.isVisible('#queue-tokens'), false);
  main.assertClean();
  admin.assertClean();
});

for (const colorScheme of ['light', 'dark']) {
  test(`axe: no serious or critical violation in the limits and usage sections (${colorScheme})`, { timeout: 60000 }, async () => {
    const { page } = admin;
    await page.emulateMedia({ colorScheme });
    await page.fill('#limit-max_running_per_session', '0');
    await save(page);
    await page.waitForSelector('#limit-max_running_per_session-error:not([hidden])');
    await page.waitForSelector('#usage-body tr');
    const violations = await seriousViolations(page);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    await screenshot(page, `admin-limits-${colorScheme}`);
    await page.fill('#limit-max_running_per_session', '');
    admin.assertClean();
  });
}
