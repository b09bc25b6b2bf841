// Cancel a running task: the page shows it cancelled, and the API agrees.

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

test('a running task is cancelled from the page', { timeout: 60000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  await page.selectOption('#model', env.slowModel);
  await page.fill('#file-name', 'slow.py');
  await paste(page, PYTHON_SOURCE);
  const created = await generate(page);
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const id = created.body.id;

  // The slow model keeps every unit waiting for its first token.
  await page.waitForSelector('#status[data-status="running"]', { timeout: 20000 });
  await page.waitForSelector('#units li[data-state="generating"]');
  assert.equal(await page.isVisible('#cancel'), true);
  // The queue indicator follows: the task is this session's one running task.
  await page.waitForSelector('#queue-text:has-text("you: 1 running")', { timeout: 10000 });
  assert.match(await page.textContent('#queue-text'), /^Queue: \d+ waiting · [1-9]\d* of \d+ running · you: 1 running$/);
  await screenshot(page, 'cancel-running');

  await page.click('#cancel');
  await page.waitForSelector('#status[data-status="cancelled"]', { timeout: 10000 });
  await screenshot(page, 'cancel-cancelled');

  const task = await fetchJson(page, `/api/tasks/${id}`);
  assert.equal(task.body.status, 'cancelled');
  assert.equal(await page.isVisible('#cancel'), false);
  assert.equal(await page.locator('#units li[data-state="generating"]').count(), 0);
  assert.ok((await page.locator('#units li[data-state="stopped"]').count()) > 0);
  const events = await page.$$eval('#events li', (items) => items.map((item) => item.dataset.event));
  assert.ok(events.includes('cancelled'), events.join());
  assert.ok(!events.includes('completed'), events.join());
  await page.waitForSelector(`#history li[data-task-id="${id}"][data-status="cancelled"]`);

  assertClean();
  await context.close();
});
