// The pickers: the language detected from a file name (opened, dropped or typed) and overridable,
// frameworks following the language, models from the API with the unavailable ones disabled.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { GO_SOURCE, RUST_SOURCE, env, fetchJson, launch, openPage, screenshot } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the language is detected from the file name and can be overridden', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const languages = await fetchJson(page, '/api/languages');
  const ids = await page.$$eval('#language option', (options) => options.map((option) => option.value));
  assert.deepEqual(ids, languages.body.languages);

  // An opened file: its name and text land in the editor, its extension picks the language.
  await page.setInputFiles('#file-input', { name: 'mathx.go', mimeType: 'text/plain', buffer: Buffer.from(GO_SOURCE) });
  await page.waitForFunction(() => document.getElementById('language').value === 'go');
  assert.equal(await page.inputValue('#file-name'), 'mathx.go');
  assert.equal(await page.inputValue('#editor'), GO_SOURCE);
  assert.match(await page.textContent('#language-hint'), /Detected from the file name \(\.go\)/);
  const go = languages.body.details.find((language) => language.id === 'go');
  const frameworks = await page.$$eval('#framework option', (options) => options.map((option) => option.value));
  assert.deepEqual(frameworks, go.frameworks.map((framework) => framework.id));
  assert.equal(await page.inputValue('#framework'), go.default_framework);
  assert.ok((await page.locator('#editor-highlight .tok-kw').count()) >= 2, 'Go keywords highlighted');

  // A dropped file.
  await page.evaluate((source) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([source], 'lib.rs', { type: 'text/plain' }));
    const zone = document.getElementById('drop-zone');
    zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, RUST_SOURCE);
  await page.waitForFunction(() => document.getElementById('language').value === 'rust');
  assert.equal(await page.inputValue('#editor'), RUST_SOURCE);

  // A typed name.
  await page.fill('#file-name', 'src/Calculator.java');
  assert.equal(await page.inputValue('#language'), 'java');

  // Chosen by hand: a later file name no longer changes it, and says so.
  await page.selectOption('#language', 'python');
  assert.match(await page.textContent('#language-hint'), /Chosen by you/);
  assert.equal(await page.inputValue('#framework'), 'pytest');
  await page.fill('#file-name', 'view.ts');
  assert.equal(await page.inputValue('#language'), 'python');
  assert.match(await page.textContent('#language-hint'), /TypeScript/);
  await screenshot(page, 'pickers');
  assertClean();
  await context.close();
});

test('models come from the API; an unavailable one is disabled and says why', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const models = (await fetchJson(page, '/api/models')).body;
  const options = await page.$$eval('#model option', (items) =>
    items.map((item) => ({ value: item.value, disabled: item.disabled, text: item.textContent })),
  );
  assert.deepEqual(options.map((option) => option.value), models.models);
  assert.equal(await page.inputValue('#model'), models.default_model);

  const unavailable = models.details.find((model) => model.id === env.unavailableModel);
  assert.ok(unavailable && !unavailable.available && unavailable.reason, JSON.stringify(models.details));
  const option = options.find((candidate) => candidate.value === env.unavailableModel);
  assert.equal(option.disabled, true);
  assert.ok(option.text.includes(unavailable.reason), option.text);
  for (const model of models.details.filter((candidate) => candidate.available)) {
    assert.equal(options.find((candidate) => candidate.value === model.id).disabled, false, model.id);
  }
  // The reason is on the page too, not only inside the closed list.
  const listed = page.locator(`#unavailable-models li[data-model="${env.unavailableModel}"]`);
  assert.equal(await listed.isVisible(), true);
  assert.ok((await listed.textContent()).includes(unavailable.reason));
  assertClean();
  await context.close();
});
