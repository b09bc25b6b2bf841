// The admin page at /admin against the real stack: the login and its refusals, a model added for an
// endpoint the registry does not know yet (with its key, which never reaches the page), its test
// through a worker, the main page offering it and a task generated with it, editing, the default,
// disabling, deleting, the audit log, logging out, a session that ends under the page, and axe.
//
// The tests run in order and share one logged-in page.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { env, fetchJson, generate, launch, openPage, paste, screenshot, seriousViolations } from '../lib/harness.mjs';

const MODEL = 'new-endpoint';

let browser;
/** The logged-in admin page, shared by the tests below. */
let admin;
/** Every text the admin page received from the API. */
const answers = [];

before(async () => {
  assert.ok(env.adminPassword, 'AIUT_UI_ADMIN_PASSWORD is not set');
  assert.ok(env.newEndpointUrl && env.newEndpointKey, 'AIUT_UI_NEW_ENDPOINT_URL and _KEY are not set');
  browser = await launch();
});
after(async () => {
  await admin?.context.close();
  await browser?.close();
});

function report(violations) {
  return JSON.stringify(violations, null, 2);
}

async function openAdmin(options = {}) {
  const opened = await openPage(browser, { path: '/admin', ...options });
  opened.page.on('response', async (response) => {
    if (new URL(response.url()).pathname.startsWith('/api/')) {
      try {
        answers.push(await response.text());
      } catch {
        // A body that is gone (a navigation) holds nothing to check.
      }
    }
  });
  return opened;
}

async function logIn(page, password = env.adminPassword) {
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

function row(page, id) {
  return page.locator(`#models-body tr[data-model="${id}"]`);
}

/** Clicks one of a model's buttons. */
async function press(page, action, id = MODEL) {
  await page.click(`#models-body button[data-action="${action}"][data-model="${id}"]`);
}

/** The main page, reloaded until `ready(option)` holds for the model's option (15 s at most). */
async function mainPageUntil(page, ready, what) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const option = await page.evaluate((id) => {
      const found = document.querySelector(`#model option[value="${id}"]`);
      return found ? { disabled: found.disabled, text: found.textContent } : null;
    }, MODEL);
    if (ready(option)) {
      return option;
    }
    assert.ok(Date.now() < deadline, `the main page: ${what} (option: ${JSON.stringify(option)})`);
    await page.waitForTimeout(500);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
  }
}

test('no admin account: the login form says how to set one up', { timeout: 30000 }, async () => {
  const message = 'no admin account is set up: start the api with the environment variable AIUT_ADMIN_PASSWORD set to the admin password';
  const { context, page, assertClean } = await openPage(browser, {
    path: '/admin',
    beforeLoad: (ctx) =>
      ctx.route('**/api/admin/session', (route) =>
        route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'retry-after': '60' },
          body: JSON.stringify({ error: { code: 'admin_not_configured', message } }),
        }),
      ),
  });
  await page.waitForSelector('#login-error:not([hidden])');
  const shown = await page.textContent('#login-error');
  assert.ok(shown.includes('AIUT_ADMIN_PASSWORD'), shown);
  assert.match(shown, /admin_not_configured/);
  assertClean();
  await context.close();
});

test('a lockout is shown with its wait (answer substituted: a real one would lock this address)', { timeout: 30000 }, async () => {
  const message = 'too many failed logins from this address or for this account; try again in 30 s';
  const { context, page, assertClean } = await openPage(browser, {
    path: '/admin',
    beforeLoad: (ctx) =>
      ctx.route('**/api/admin/login', (route) =>
        route.fulfill({
          status: 429,
          contentType: 'application/json',
          headers: { 'retry-after': '30' },
          body: JSON.stringify({ error: { code: 'too_many_login_failures', message } }),
        }),
      ),
  });
  await logIn(page);
  await page.waitForSelector('#login-error:not([hidden])');
  const shown = await page.textContent('#login-error');
  assert.match(shown, /Too many failed logins .*; try again in 30 s\. \(429 too_many_login_failures\)/);
  assert.equal(await page.getAttribute('body', 'data-view'), 'login');
  assertClean();
  await context.close();
});

test('a wrong password shows the API\'s error, then the right one logs in', { timeout: 30000 }, async () => {
  admin = await openAdmin();
  const { page } = admin;
  assert.equal(await page.getAttribute('body', 'data-view'), 'login');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password');
  assert.equal(await page.getAttribute('#login-password', 'type'), 'password');

  await logIn(page, 'not-the-password');
  await page.waitForSelector('#login-error:not([hidden])');
  assert.match(await page.textContent('#login-error'), /Wrong account or password.*401 invalid_credentials/);
  assert.equal(await page.getAttribute('#login-password', 'aria-invalid'), 'true');
  await screenshot(page, 'admin-login-refused');

  await logIn(page);
  await page.waitForSelector('body[data-view="admin"]');
  assert.equal(await page.textContent('#who-account'), 'admin');
  const ends = await page.getAttribute('#session-ends', 'datetime');
  assert.ok(Date.parse(ends) > Date.now(), ends);
  assert.match(await page.textContent('#who'), /session ends .* or after 15 min without use/);
  assert.equal(await page.isVisible('#logout'), true);
  assert.equal(await page.isVisible('#login-panel'), false);
  await page.waitForSelector('#models-body tr[data-model="simulator"]');
  admin.assertClean();
});

test('the models table shows the registry without keys', { timeout: 30000 }, async () => {
  const { page } = admin;
  const listed = (await fetchJson(page, '/api/admin/models')).body;
  const ids = await page.$$eval('#models-body tr', (rows) => rows.map((tr) => tr.dataset.model));
  assert.deepEqual(ids, listed.models.map((model) => model.id));
  const simulator = row(page, 'simulator');
  assert.equal(await simulator.getAttribute('data-default'), 'true');
  assert.equal(await simulator.locator('[data-field="origin"]').textContent(), 'file');
  assert.equal(await simulator.locator('[data-field="key"]').textContent(), 'no');
  assert.match(await row(page, 'hosted').locator('[data-field="key"]').textContent(), /^from AIUT_/);
  const headers = await page.$$eval('#models-table thead th', (cells) => cells.map((cell) => cell.textContent));
  for (const wanted of ['Id', 'Name', 'Kind', 'Base URL', 'Endpoint model', 'Enabled', 'Default', 'Key set', 'Source']) {
    assert.ok(headers.includes(wanted), headers.join(', '));
  }
  admin.assertClean();
});

test('a refused field is shown next to the form with the API\'s message', { timeout: 30000 }, async () => {
  const { page } = admin;
  await page.click('#model-new');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'model-id');
  assert.equal(await page.getAttribute('#model-key', 'type'), 'password');
  assert.equal(await page.getAttribute('#model-key', 'autocomplete'), 'off');
  await page.fill('#model-id', 'refused');
  await page.fill('#model-base-url', 'ftp://example.invalid/v1');
  await page.click('#model-save');
  await page.waitForSelector('#model-form-error:not([hidden])');
  assert.match(await page.textContent('#model-form-error'), /Field `base_url`: must be an http or https URL.*422 invalid_model_settings/);
  assert.equal(await page.getAttribute('#model-base-url', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'model-base-url');

  await page.fill('#model-base-url', env.newEndpointUrl);
  await page.fill('#model-fallback', 'no-such-model');
  await page.click('#model-save');
  await page.waitForFunction(() => document.getElementById('model-form-error').textContent.includes('fallback'));
  assert.match(await page.textContent('#model-form-error'), /`no-such-model` is not a model of the registry/);
  await page.click('#model-cancel');
  assert.equal(await page.isVisible('#model-form-panel'), false);
  assert.equal(await row(page, 'refused').count(), 0);
  admin.assertClean();
});

test('a model for a new endpoint is added with its key, which the page never holds', { timeout: 30000 }, async () => {
  const { page } = admin;
  await page.click('#model-new');
  await page.fill('#model-id', MODEL);
  await page.fill('#model-display-name', 'New endpoint');
  await page.fill('#model-base-url', env.newEndpointUrl);
  await page.fill('#model-model', 'aiut-sim');
  await page.fill('#model-key', env.newEndpointKey);
  await page.fill('#model-temperature', '0');
  await page.fill('#model-max-tokens', '1024');
  await page.fill('#model-timeout', '30');
  await page.fill('#model-concurrency', '4');
  const posted = page.waitForRequest(
    (request) => request.method() === 'POST' && new URL(request.url()).pathname === '/api/admin/models',
  );
  await page.click('#model-save');
  const sent = await posted;
  assert.ok(sent.headers()['x-csrf-token']?.length >= 32, 'the write carries the CSRF token');
  await row(page, MODEL).waitFor();
  const added = row(page, MODEL);
  assert.equal(await added.locator('[data-field="key"]').textContent(), 'yes');
  assert.equal(await added.locator('[data-field="origin"]').textContent(), 'admin');
  assert.equal(await added.getAttribute('data-enabled'), 'true');
  assert.match(await page.textContent('#model-result'), /new-endpoint is added/);
  assert.equal(await page.isVisible('#model-form-panel'), false);

  // Nowhere on the page: not in its markup, not in a field's value, not in any answer it got.
  const html = await page.content();
  assert.ok(!html.includes(env.newEndpointKey), 'the key is in the page');
  const values = await page.$$eval('input', (inputs) => inputs.map((input) => input.value));
  assert.ok(!values.some((value) => value.includes(env.newEndpointKey)), 'the key is in a field');
  const listed = await fetchJson(page, `/api/admin/models/${MODEL}`);
  assert.equal(listed.body.key_set, true);
  assert.ok(answers.length > 3, `${answers.length} answers seen`);
  assert.ok(!answers.some((text) => text.includes(env.newEndpointKey)), 'the key is in an answer');
  await screenshot(page, 'admin-models');
  admin.assertClean();
});

test('Test shows the model\'s answer through a worker', { timeout: 60000 }, async () => {
  const { page } = admin;
  // The worker serves the new model within seconds; until then the API says no worker serves it.
  const deadline = Date.now() + 30000;
  for (;;) {
    const tested = page.waitForResponse((response) => new URL(response.url()).pathname === `/api/admin/models/${MODEL}/test`);
    await press(page, 'test');
    const response = await tested;
    await page.waitForFunction(() => ['good', 'bad'].includes(document.getElementById('model-result').dataset.tone));
    if (response.status() === 200) {
      break;
    }
    assert.equal(response.status(), 503, await page.textContent('#model-result'));
    assert.match(await page.textContent('#model-result'), /no_worker_for_model/);
    assert.ok(Date.now() < deadline, 'no worker took the test');
    await page.waitForTimeout(1000);
  }
  assert.equal(await page.getAttribute('#model-result', 'data-tone'), 'good', await page.textContent('#model-result'));
  assert.match(await page.textContent('#model-result'), /new-endpoint answered in \d+ ms \(worker-1\): \S+/);
  assert.equal(await page.getAttribute('#model-result', 'aria-live'), 'polite');
  admin.assertClean();
});

test('the main page offers the new model within seconds and a task with it succeeds', { timeout: 60000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const option = await mainPageUntil(page, (found) => found && !found.disabled, 'the new model is not offered');
  assert.match(option.text, /New endpoint/);
  await page.selectOption('#model', MODEL);
  await page.fill('#file-name', 'endpoint_calc.py');
  await paste(page, 'def triple(x):\n    return x * 3\n');
  const created = await generate(page);
  assert.ok([200, 202].includes(created.status), JSON.stringify(created.body));
  await page.waitForSelector('#status[data-status="succeeded"]', { timeout: 45000 });
  const task = await fetchJson(page, `/api/tasks/${created.body.id}`);
  assert.equal(task.body.model, MODEL, JSON.stringify(task.body));
  await screenshot(page, 'admin-new-model-used');
  assertClean();
  await context.close();
});

test('Edit changes the name and keeps the key; Make default and back', { timeout: 30000 }, async () => {
  const { page } = admin;
  await press(page, 'edit');
  assert.match(await page.textContent('#model-form-heading'), /Edit new-endpoint/);
  assert.equal(await page.inputValue('#model-key'), '', 'no key is filled in');
  assert.equal(await page.isVisible('#model-clear-key'), true, 'a way to clear the key');
  assert.equal(await page.inputValue('#model-base-url'), env.newEndpointUrl);
  assert.equal(await page.getAttribute('#model-id', 'readonly'), '');
  await page.fill('#model-display-name', 'New endpoint, renamed');
  await page.click('#model-save');
  await page.waitForFunction(() => document.getElementById('model-result').textContent.includes('saved'));
  assert.equal(await row(page, MODEL).locator('td').first().textContent(), 'New endpoint, renamed');
  assert.equal(await row(page, MODEL).locator('[data-field="key"]').textContent(), 'yes', 'the key is kept');

  await press(page, 'default');
  await page.waitForSelector(`#models-body tr[data-model="${MODEL}"][data-default="true"]`);
  assert.equal(await row(page, 'simulator').getAttribute('data-default'), 'false');
  await press(page, 'default', 'simulator');
  await page.waitForSelector('#models-body tr[data-model="simulator"][data-default="true"]');
  admin.assertClean();
});

test('a disabled model is refused and no longer offered; Enable and Delete', { timeout: 60000 }, async () => {
  const { page } = admin;
  await press(page, 'disable');
  await page.waitForSelector(`#models-body tr[data-model="${MODEL}"][data-enabled="false"]`);
  assert.equal(await page.locator(`#models-body button[data-action="enable"][data-model="${MODEL}"]`).count(), 1);

  const main = await openPage(browser);
  const option = await mainPageUntil(main.page, (found) => !found || found.disabled, 'the disabled model is still offered');
  if (option) {
    assert.match(option.text, /unavailable/);
  }
  const refused = await main.page.evaluate(async (model) => {
    const response = await fetch('/api/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ source: 'def f():\n    return 1\n', filename: 'f.py', model }),
    });
    return { status: response.status, body: await response.json() };
  }, MODEL);
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'model_disabled');
  main.assertClean();
  await main.context.close();

  // The test of a disabled model is refused, and the page says why.
  await press(page, 'test');
  await page.waitForFunction(() => document.getElementById('model-result').textContent.includes('could not run'));
  assert.match(await page.textContent('#model-result'), /disabled.*409 model_in_use/);

  await press(page, 'enable');
  await page.waitForSelector(`#models-body tr[data-model="${MODEL}"][data-enabled="true"]`);

  let asked = '';
  page.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.accept();
  });
  await press(page, 'delete');
  await page.waitForFunction((id) => !document.querySelector(`#models-body tr[data-model="${id}"]`), MODEL);
  assert.match(asked, /Delete the model new-endpoint/);
  admin.assertClean();
});

test('the audit log lists the latest actions with who, when and from where', { timeout: 30000 }, async () => {
  const { page } = admin;
  await page.click('#audit-refresh');
  await page.waitForSelector('#audit-body tr[data-action="model_deleted"]');
  const rows = await page.$$eval('#audit-body tr', (trs) => trs.map((tr) => [...tr.cells].map((cell) => cell.textContent)));
  const actions = rows.map((cells) => cells[2]);
  for (const wanted of ['login_failed', 'login', 'model_added', 'model_tested', 'model_disabled', 'model_enabled', 'model_default_set', 'model_deleted']) {
    assert.ok(actions.includes(wanted), `${wanted} missing from ${actions.join(', ')}`);
  }
  const added = rows.find((cells) => cells[2] === 'model_added');
  assert.equal(added[1], 'admin');
  assert.equal(added[3], MODEL);
  assert.ok(added[4].length > 0, 'the client address');
  assert.ok(added[0].length > 0, 'the time');
  assert.ok(!rows.flat().some((cell) => cell.includes(env.newEndpointKey)), 'the key is in the audit log');
  admin.assertClean();
});

for (const colorScheme of ['light', 'dark']) {
  test(`axe: no serious or critical violation on the admin page (${colorScheme})`, { timeout: 60000 }, async () => {
    const { context, page, assertClean } = await openPage(browser, { path: '/admin', colorScheme });
    const login = await seriousViolations(page);
    assert.deepEqual(login, [], report(login));
    await logIn(page);
    await page.waitForSelector('#models-body tr[data-model="simulator"]');
    await page.click('#model-new');
    await page.fill('#model-id', 'x');
    await page.fill('#model-base-url', 'ftp://example.invalid');
    await page.click('#model-save');
    await page.waitForSelector('#model-form-error:not([hidden])');
    await press(page, 'test', 'simulator');
    await page.waitForFunction(() => ['good', 'bad'].includes(document.getElementById('model-result').dataset.tone), null, { timeout: 30000 });
    const full = await seriousViolations(page);
    assert.deepEqual(full, [], report(full));
    await screenshot(page, `admin-${colorScheme}`);
    assertClean();
    await context.close();
  });
}

test('a session that ends under the page returns it to the login form with a message', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser, { path: '/admin' });
  await logIn(page);
  await page.waitForSelector('body[data-view="admin"]');
  // Ended elsewhere (another tab's logout): the page still thinks it is logged in.
  const status = await page.evaluate(async () => {
    const session = await (await fetch('/api/admin/session')).json();
    const response = await fetch('/api/admin/logout', { method: 'POST', headers: { 'X-CSRF-Token': session.csrf_token } });
    return response.status;
  });
  assert.equal(status, 204);
  await page.click('#models-refresh');
  await page.waitForSelector('body[data-view="login"]');
  assert.match(await page.textContent('#login-error'), /session has ended/);
  assertClean();
  await context.close();
});

test('Log out ends the session: the admin routes are refused', { timeout: 30000 }, async () => {
  const { page } = admin;
  const posted = page.waitForRequest((request) => new URL(request.url()).pathname === '/api/admin/logout');
  await page.click('#logout');
  assert.ok((await posted).headers()['x-csrf-token'], 'the logout carries the CSRF token');
  await page.waitForSelector('body[data-view="login"]');
  assert.equal(await page.isVisible('#models-panel'), false);
  assert.equal(await page.locator('#models-body tr').count(), 0, 'the table is emptied');
  for (const path of ['/api/admin/session', '/api/admin/models', '/api/admin/audit']) {
    const answer = await fetchJson(page, path);
    assert.equal(answer.status, 401, `${path}: ${JSON.stringify(answer.body)}`);
  }
  await page.reload();
  await page.waitForSelector('body[data-view="login"]');
  assert.ok(!answers.some((text) => text.includes(env.newEndpointKey)), 'the key is in an answer');
  admin.assertClean();
});
