// The live feed survives a dropped connection: the page reconnects with Last-Event-ID set to the
// last event it handled, and the server replays only what came after, so no event is missed or
// shown twice.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PYTHON_SOURCE, env, fetchJson, generate, launch, openPage, paste, screenshot } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/**
 * Reads the real event stream of `url` as `cookie`'s session until the block of event `last`,
 * and returns the stream's text up to there with the number of that event: what a connection
 * dropped right after it would have delivered.
 */
async function streamUntil(url, cookie, last) {
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', Cookie: cookie } });
  assert.equal(response.status, 200);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the stream ended before ${last}: ${text}`);
      text += value;
      const blocks = text.split('\n\n');
      const index = blocks.findIndex((block) => block.split('\n').includes(`event: ${last}`));
      if (index >= 0 && index < blocks.length - 1) {
        const kept = blocks.slice(0, index + 1);
        const id = kept[index].split('\n').find((line) => line.startsWith('id: '));
        return { body: `${kept.join('\n\n')}\n\n`, seq: Number(id.slice(4)) };
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

test('a dropped event stream is resumed after the last event seen', { timeout: 60000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const requests = [];
  let cut = null;
  await page.route('**/api/tasks/*/events', async (route) => {
    const request = route.request();
    requests.push(request.headers()['last-event-id'] ?? null);
    if (requests.length > 1) {
      await route.continue();
      return;
    }
    // The first connection delivers the events up to the units found, then drops.
    const cookies = await context.cookies(env.url);
    const cookie = cookies.map(({ name, value }) => `${name}=${value}`).join('; ');
    cut = await streamUntil(request.url(), cookie, 'parsing_completed');
    await route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
      body: cut.body,
    });
  });

  // The slow model: the units wait for their first token long enough for the page to come back.
  await page.selectOption('#model', env.slowModel);
  await page.fill('#file-name', 'resume.py');
  await paste(page, PYTHON_SOURCE);
  const created = await generate(page);
  assert.equal(created.status, 202);
  const id = created.body.id;

  await page.waitForFunction(() => document.querySelectorAll('#units li[data-state="generating"]').length === 3, null, {
    timeout: 20000,
  });
  assert.equal(requests.length, 2, `event stream requests: ${JSON.stringify(requests)}`);
  assert.equal(requests[0], null, 'the first connection starts from the beginning');
  assert.equal(requests[1], String(cut.seq), 'the second resumes after the last event handled');
  await screenshot(page, 'reconnect-resumed');

  // Cancelled from the history this time.
  await page.locator(`#history li[data-task-id="${id}"]`).getByRole('button', { name: 'Cancel resume.py' }).click();
  await page.waitForSelector('#status[data-status="cancelled"]', { timeout: 10000 });
  const events = await page.$$eval('#events li', (items) => items.map((item) => item.dataset.event));
  const count = (name) => events.filter((event) => event === name).length;
  assert.equal(count('started'), 1, events.join());
  assert.equal(count('parsing_completed'), 1, events.join());
  assert.equal(count('generating'), 3, events.join());
  assert.equal(count('cancelled'), 1, events.join());
  assert.equal((await fetchJson(page, `/api/tasks/${id}`)).body.status, 'cancelled');
  assertClean();
  await context.close();
});
