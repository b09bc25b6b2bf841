// Paste code, generate, watch the events, get the result, download it, copy it; then reload the
// page and find the task in the history.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { PYTHON_SOURCE, fetchBytes, fetchJson, generate, launch, openPage, paste, screenshot, waitReady, env } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('pasted code becomes a test file, live, and downloads as the API serves it', { timeout: 90000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.url });
  await screenshot(page, 'main-empty');

  await page.fill('#file-name', 'inventory.py');
  assert.equal(await page.inputValue('#language'), 'python');
  assert.match(await page.textContent('#language-hint'), /Detected from the file name \(\.py\)/);
  await paste(page, PYTHON_SOURCE);
  // The editor highlights what was pasted and numbers its lines.
  assert.ok((await page.locator('#editor-highlight .tok-kw').count()) > 0, 'keywords are highlighted');
  const lines = PYTHON_SOURCE.split('\n').length;
  assert.equal((await page.textContent('#editor-gutter')).split('\n').length, lines);
  await screenshot(page, 'main-pasted');

  // Every text the result's title shows, as it changes: the tests appear while they are written.
  await page.evaluate(() => {
    window.resultTitles = [];
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        for (const node of mutation.addedNodes) {
          window.resultTitles.push(node.textContent);
        }
      }
    }).observe(document.getElementById('result-name'), { childList: true });
  });
  const created = await generate(page);
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const id = created.body.id;
  assert.equal(await page.getAttribute('#status', 'data-task-id'), id);

  // The units the worker found appear, then every one of them gets its tests.
  await page.waitForSelector('#units li');
  await page.waitForSelector('#status[data-status="succeeded"]', { timeout: 45000 });
  await screenshot(page, 'main-succeeded');
  const units = await page.$$eval('#units li', (items) =>
    items.map((item) => ({ name: item.dataset.unit, state: item.dataset.state })),
  );
  const names = units.map((unit) => unit.name);
  for (const expected of ['add', 'Stock.restock']) {
    assert.ok(names.includes(expected), `unit ${expected} in ${names}`);
  }
  // Each unit ends with its tests kept (done) or left out after running them (dropped, with its
  // verdict): what is delivered is what passed.
  assert.ok(units.every((unit) => ['done', 'dropped'].includes(unit.state)), JSON.stringify(units));
  assert.ok(units.some((unit) => unit.state === 'done'), JSON.stringify(units));
  assert.equal(await page.getAttribute('#progress', 'value'), '100');
  const titles = await page.evaluate(() => window.resultTitles);
  assert.ok(
    titles.includes(`Preview: the tests of 1 of ${units.length} units so far.`),
    `the first unit's tests were shown before the file was ready: ${JSON.stringify(titles)}`,
  );
  assert.equal(titles.at(-1), 'test_inventory.py');

  // The events came in their order.
  const events = await page.$$eval('#events li', (items) => items.map((item) => item.dataset.event));
  for (const expected of ['queued', 'started', 'parsing_completed', 'generating', 'result', 'completed']) {
    assert.ok(events.includes(expected), `${expected} in ${events}`);
  }
  assert.ok(events.indexOf('started') < events.indexOf('parsing_completed'), events.join());
  assert.ok(events.indexOf('parsing_completed') < events.indexOf('generating'), events.join());
  assert.ok(events.lastIndexOf('result') < events.indexOf('completed'), events.join());
  assert.equal(events.filter((name) => name === 'result').length, units.length, events.join());

  // The result shown is the API's, highlighted, under the conventional name.
  const task = await fetchJson(page, `/api/tasks/${id}`);
  assert.equal(task.status, 200);
  assert.equal(task.body.status, 'succeeded');
  assert.equal(await page.textContent('#result-code'), task.body.result.code);
  assert.equal(await page.textContent('#result-name'), 'test_inventory.py');
  assert.ok((await page.locator('#result-code .tok-kw').count()) > 0, 'the result is highlighted');

  // Download: the browser's file is byte for byte what the API serves this session.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'test_inventory.py');
  const downloaded = await readFile(await download.path());
  const served = await fetchBytes(page, `/api/tasks/${id}/download`);
  assert.equal(served.status, 200);
  assert.match(served.disposition, /filename="test_inventory\.py"/);
  assert.ok(downloaded.length > 0);
  assert.deepEqual([...downloaded], served.bytes);

  // Copy puts the same text on the clipboard.
  await page.click('#copy');
  await page.waitForSelector('#result-note:has-text("Copied")');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), task.body.result.code);

  // A reload starts afresh, and the history (this session's) lists the task.
  await page.reload();
  await waitReady(page);
  assert.equal(await page.textContent('#result-code'), '');
  const item = page.locator(`#history li[data-task-id="${id}"]`);
  await item.waitFor();
  assert.match(await item.textContent(), /inventory\.py/);
  assert.equal(await item.getAttribute('data-status'), 'succeeded');
  await screenshot(page, 'history-after-reload');

  // Reopening it shows the result and puts the source back in the editor.
  await item.getByRole('button', { name: 'Open inventory.py' }).click();
  await page.waitForSelector('#status[data-status="succeeded"]');
  assert.equal(await page.textContent('#result-code'), task.body.result.code);
  assert.equal(await page.inputValue('#editor'), PYTHON_SOURCE);
  assert.equal(await page.inputValue('#file-name'), 'inventory.py');
  // The same units come back, each as it ended: kept (done) or left out after its tests ran.
  const reopened = await page.$$eval('#units li', (items) =>
    items.map((item) => ({ name: item.dataset.unit, state: item.dataset.state })),
  );
  assert.deepEqual(
    reopened.filter((unit) => unit.state === 'done').map((unit) => unit.name).sort(),
    units.filter((unit) => unit.state === 'done').map((unit) => unit.name).sort(),
  );
  await screenshot(page, 'history-reopened');

  // The same request again, by keyboard: answered at once from the result cache.
  await page.focus('#editor');
  const again = page.waitForResponse((response) => response.request().method() === 'POST');
  await page.keyboard.press('Control+Enter');
  const answer = await again;
  assert.equal(answer.status(), 200);
  await page.waitForSelector('#status:has-text("answered from the cache")');
  assert.equal(await page.textContent('#result-code'), task.body.result.code);

  assertClean();
  await context.close();
});
