// The page as the gateway serves it: a policy that allows only this origin, files revalidated
// with their validators (also once the gateway has compressed them), and nothing broken on load.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { env, launch, openPage, waitReady } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the page and its files come with a strict policy and are revalidated, not refetched', { timeout: 30000 }, async () => {
  const { context, page, assertClean } = await openPage(browser);
  const first = await page.request.get(`${env.url}/`);
  const policy = first.headers()['content-security-policy'];
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'self'(;|$)/);
  assert.match(policy, /style-src 'self'(;|$)/);
  assert.match(policy, /connect-src 'self'(;|$)/);
  assert.equal(first.headers()['x-content-type-options'], 'nosniff');
  assert.equal(first.headers()['cache-control'], 'no-cache');

  // An unknown asset is a JSON 404, like any unknown path.
  const missing = await page.request.get(`${env.url}/assets/nope.js`);
  assert.equal(missing.status(), 404);
  assert.equal((await missing.json()).error.code, 'not_found');

  // A reload asks again with the validators it holds and gets 304s (the gateway gzips the larger
  // files, which weakens their ETags; the api compares weakly).
  const statuses = new Map();
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path === '/' || path.startsWith('/assets/')) {
      statuses.set(path, response.status());
    }
  });
  const scripts = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((entry) => entry.name.includes('/assets/')).length,
  );
  assert.ok(scripts >= 6, `${scripts} files loaded`);
  await page.reload();
  await waitReady(page);
  const revalidated = [...statuses.entries()].filter(([, status]) => status === 304).map(([path]) => path);
  assert.ok(revalidated.includes('/assets/app.js'), JSON.stringify([...statuses]));
  assert.ok(revalidated.includes('/assets/app.css'), JSON.stringify([...statuses]));

  // An inline script would be refused by the policy, so the page has none and runs anyway.
  assert.equal(await page.locator('script:not([src])').count(), 0);
  assertClean();
  await context.close();
});
