// Every kind of refusal is shown plainly: a file over the size limit (refused before sending), a
// source the API cannot test (422, its message), and too many requests (429, with a countdown).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PYTHON_SOURCE, env, generate, launch, openPage, paste, screenshot } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a file over the size limit is refused with its size and the limit, and nothing is sent', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  assert.equal(
    await page.getAttribute('meta[name="aiut-max-source-bytes"]', 'content'),
    String(env.maxSourceBytes),
    'the page knows the api limit',
  );
  const posts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST') {
      posts.push(request.url());
    }
  });
  const size = env.maxSourceBytes + 1;
  await page.setInputFiles('#file-input', {
    name: 'huge.py',
    mimeType: 'text/x-python',
    buffer: Buffer.alloc(size, 'a'),
  });
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.getAttribute('#error', 'data-code'), 'source_too_large');
  const shown = await page.textContent('#error');
  assert.match(shown, /too large/);
  assert.match(shown, new RegExp(new Intl.NumberFormat('en').format(size)));
  assert.match(shown, new RegExp(new Intl.NumberFormat('en').format(env.maxSourceBytes)));
  assert.match(shown, /Nothing was sent/);
  assert.equal(await page.inputValue('#editor'), '', 'the editor keeps what it had');
  await screenshot(page, 'error-oversize-file');

  // The same limit holds for pasted text, still without a request.
  await page.evaluate((size) => {
    const editor = document.getElementById('editor');
    editor.value = 'x'.repeat(size);
    editor.dispatchEvent(new Event('input'));
  }, size);
  await page.click('#error-dismiss');
  await page.click('#generate');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /too large/);
  assert.deepEqual(posts, []);

  assertClean();
  await context.close();
});

test('a source without testable units shows the API message (422)', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  await page.fill('#file-name', 'constants.py');
  await paste(page, 'LIMIT = 10\nNAMES = ["a", "b"]\n');
  const answer = await generate(page);
  assert.equal(answer.status, 422);
  await page.waitForSelector('#error:not([hidden])');
  assert.equal(await page.getAttribute('#error', 'data-status'), '422');
  assert.equal(await page.textContent('#error-title'), 'Cannot generate tests for this source.');
  const message = answer.body.error.message;
  const shown = await page.textContent('#error-message');
  assert.equal(shown.toLowerCase().replace(/\.$/, ''), message.toLowerCase().replace(/\.$/, ''));
  assert.match(await page.textContent('#error-code'), new RegExp(answer.body.error.code));
  assert.equal(await page.getAttribute('#status', 'data-status'), 'idle', 'no task was made');
  await screenshot(page, 'error-422');
  assertClean();
  await context.close();
});

test('too many requests: the wait is counted down and Generate waits with it (429)', { timeout: 40000 }, async () => {
  assert.ok(env.limitedUrl, 'AIUT_UI_LIMITED_URL names the rate-limited gateway');
  const { context, page, assertClean } = await openPage(browser, { baseUrl: env.limitedUrl });
  await paste(page, PYTHON_SOURCE);
  // Use up this address's requests.
  const refusedAfter = await page.evaluate(async () => {
    for (let sent = 1; sent <= 60; sent += 1) {
      const response = await fetch('/api/queue', { cache: 'no-store' });
      if (response.status === 429) {
        return sent;
      }
    }
    return -1;
  });
  assert.ok(refusedAfter > 0, 'the gateway refused at last');

  const answer = await generate(page);
  assert.equal(answer.status, 429);
  assert.equal(answer.body.error.code, 'rate_limited');
  await page.waitForSelector('#error[data-status="429"]:not([hidden])');
  assert.equal(await page.textContent('#error-title'), 'Too many requests.');
  assert.equal(await page.isVisible('#error-retry'), true);
  const first = Number(await page.textContent('#retry-countdown'));
  assert.ok(first >= 2, `a wait of ${first} s`);
  assert.equal(await page.isDisabled('#generate'), true);
  assert.match(await page.textContent('#generate'), new RegExp(`Wait \\d+ s`));
  await screenshot(page, 'error-429');
  await page.waitForTimeout(1600);
  const later = Number(await page.textContent('#retry-countdown'));
  assert.ok(later < first, `the countdown went from ${first} to ${later}`);
  assertClean();
  await context.close();
});

test('refusals the stack does not give on demand are shown too (answers substituted in the browser)', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  await page.fill('#file-name', 'inventory.py');
  await paste(page, PYTHON_SOURCE);
  const answers = [
    {
      status: 503,
      headers: { 'content-type': 'application/json', 'retry-after': '3' },
      body: JSON.stringify({ error: { code: 'queue_full', message: 'the queue is full (10000 tasks waiting); try again later' } }),
      title: 'The service is unavailable.',
      message: 'The queue is full (10000 tasks waiting); try again later.',
      countdown: true,
    },
    {
      status: 413,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error: { code: 'payload_too_large', message: 'the request body is larger than the gateway accepts' } }),
      title: 'The source is too large.',
      message: 'The request body is larger than the gateway accepts.',
      countdown: false,
    },
    {
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: '<html>bad gateway</html>',
      title: 'Generation failed.',
      message: null,
      countdown: false,
    },
  ];
  for (const answer of answers) {
    await page.route('**/api/tasks', (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({ status: answer.status, headers: answer.headers, body: answer.body })
        : route.continue(),
    );
    await page.click('#generate');
    await page.waitForSelector(`#error[data-status="${answer.status}"]:not([hidden])`);
    assert.equal(await page.textContent('#error-title'), answer.title);
    if (answer.message) {
      assert.equal(await page.textContent('#error-message'), answer.message);
    } else {
      assert.notEqual((await page.textContent('#error-message')).trim(), '');
    }
    assert.equal(await page.isVisible('#error-retry'), answer.countdown, `countdown for ${answer.status}`);
    if (answer.countdown) {
      await screenshot(page, 'error-503');
      // Wait out the countdown before the next answer.
      await page.waitForFunction(() => !document.getElementById('generate').disabled, null, { timeout: 10000 });
    }
    await page.unroute('**/api/tasks');
  }

  // No server at all.
  await page.route('**/api/tasks', (route) =>
    route.request().method() === 'POST' ? route.abort('connectionrefused') : route.continue(),
  );
  await page.click('#generate');
  await page.waitForSelector('#error[data-status="0"]:not([hidden])');
  assert.equal(await page.textContent('#error-title'), 'Cannot reach the server.');
  assertClean();
  await context.close();
});
