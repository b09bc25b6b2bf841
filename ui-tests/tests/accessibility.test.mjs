// axe-core finds no serious or critical violation on the main page, in the light and the dark
// scheme, before and after a result is shown; and the page works from the keyboard.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PYTHON_SOURCE, generate, launch, openPage, paste, screenshot, seriousViolations } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

function report(violations) {
  return JSON.stringify(violations, null, 2);
}

/** The relative luminance of the body's background colour (0 black, 1 white). */
async function backgroundLuminance(page) {
  return page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.documentElement)
      .backgroundColor.match(/[\d.]+/g)
      .slice(0, 3)
      .map((value) => Number(value) / 255)
      .map((value) => (value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  });
}

for (const colorScheme of ['light', 'dark']) {
  test(`axe: no serious or critical violation (${colorScheme})`, { timeout: 60000 }, async () => {
    const { context, page, assertClean } = await openPage(browser, { colorScheme });
    const luminance = await backgroundLuminance(page);
    assert.ok(colorScheme === 'dark' ? luminance < 0.1 : luminance > 0.8, `background luminance ${luminance}`);

    const empty = await seriousViolations(page);
    assert.deepEqual(empty, [], report(empty));

    // With a highlighted source, units, events and a highlighted result on the page.
    // Another name than the generate test's, so that test's task is not answered from the cache.
    await page.fill('#file-name', 'stock.py');
    await paste(page, PYTHON_SOURCE);
    const created = await generate(page);
    assert.ok([200, 202].includes(created.status), JSON.stringify(created.body));
    await page.waitForSelector('#status[data-status="succeeded"]', { timeout: 45000 });
    await screenshot(page, `axe-${colorScheme}`);
    const full = await seriousViolations(page);
    assert.deepEqual(full, [], report(full));
    assertClean();
    await context.close();
  });
}

test('the theme button switches the scheme and remembers it', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser, { colorScheme: 'light' });
  assert.equal(await page.textContent('#theme'), 'Theme: auto');
  await page.click('#theme');
  assert.equal(await page.textContent('#theme'), 'Theme: light');
  await page.click('#theme');
  assert.equal(await page.textContent('#theme'), 'Theme: dark');
  assert.ok((await backgroundLuminance(page)) < 0.1);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.textContent('#theme'), 'Theme: dark');
  assert.ok((await backgroundLuminance(page)) < 0.1, 'dark after a reload');
  await screenshot(page, 'main-dark');
  assertClean();
  await context.close();
});

test('keyboard: Tab reaches the editor, the pickers, the checks and Generate, in that order, visibly', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const order = [];
  for (let press = 0; press < 40 && !order.includes('generate'); press += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
    order.push(focused);
  }
  const wanted = ['file-input', 'file-name', 'editor', 'language', 'framework', 'model', 'validate-run', 'keep-passing', 'generate'];
  const positions = wanted.map((id) => order.indexOf(id));
  assert.ok(positions.every((position) => position >= 0), `focus went through ${order.join(' → ')}`);
  assert.deepEqual([...positions].sort((a, b) => a - b), positions, `focus order ${order.join(' → ')}`);

  // Focus is visible on the button.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');

  // Enter on Generate with nothing to test says so and returns to the editor.
  await page.keyboard.press('Enter');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-title'), /Nothing to test/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'editor');
  assertClean();
  await context.close();
});

test('narrow screens get one column', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser, { viewport: { width: 390, height: 844 } });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  const source = await page.locator('#source-panel').boundingBox();
  const run = await page.locator('#run-panel').boundingBox();
  assert.ok(run.y >= source.y + source.height - 1, 'the progress panel is below the source panel');
  await screenshot(page, 'main-narrow');
  assertClean();
  await context.close();
});
