// A repository's folder: connect with a token, pick the repository, its branch and a folder from
// the tree, write tests for every file of it, follow the batch until each file is done, fetch the
// archive, and open the pull request (replacing the older test the repository holds). In the dark
// theme, with the keyboard for the tabs, and no serious accessibility violation.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { env, fetchBytes, fetchJson, launch, openPage, screenshot, seriousViolations } from '../lib/harness.mjs';

const FINISHED = ['succeeded', 'failed', 'cancelled'];

let browser;
before(async () => {
  assert.ok(env.githubUrl && env.forgeToken && env.repository, 'the stack names its stand-in GitHub');
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a folder of a repository becomes a batch, its archive and its pull request', { timeout: 240000 }, async () => {
  const { page, assertClean } = await openPage(browser, { colorScheme: 'dark' });

  // The tabs follow the arrow keys; the repository source has a button of its own.
  await page.focus('#tab-code');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getAttribute('#tab-repo', 'aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-repo');
  assert.ok(await page.isVisible('#repo-source'));
  assert.ok(await page.isHidden('#code-source'));
  assert.ok(await page.isHidden('#generate'));
  assert.ok(await page.isVisible('#batch-start'));

  // No token yet: the form asks for one.
  await page.waitForSelector('#git-connect', { state: 'visible' });
  await page.selectOption('#git-forge', 'github');
  await page.fill('#git-base-url', env.githubUrl);
  await page.fill('#git-token', env.forgeToken);
  await page.click('#git-save');
  await page.waitForSelector('#git-connected', { state: 'visible' });
  assert.match(await page.textContent('#git-login'), /connected as octocat/);
  assert.ok(await page.isHidden('#git-connect'));
  // The token is gone from the page and was never put in the browser's storage.
  assert.equal(await page.inputValue('#git-token'), '');
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!stored.includes(env.forgeToken), stored);

  // The repositories come a page at a time.
  await page.waitForSelector(`#git-repo option[value="${env.repository}"]`, { state: 'attached' });
  await page.waitForSelector('#git-repo-more', { state: 'visible' });
  await page.click('#git-repo-more');
  await page.waitForSelector('#git-repo option[value="octocat/hello-world"]', { state: 'attached' });
  assert.ok(await page.isHidden('#git-repo-more'), 'no page after the last');
  await page.selectOption('#git-repo', env.repository);

  // The default branch is chosen, and its tree is listed.
  await page.waitForSelector('#git-branch option[value="main"]', { state: 'attached' });
  assert.equal(await page.inputValue('#git-branch'), 'main');
  await page.waitForSelector('#git-tree li[data-path="src"]');
  await page.click('#git-tree li[data-path="src/calc.py"] button');
  assert.equal(await page.inputValue('#git-path'), 'src/calc.py');
  assert.equal((await page.textContent('#batch-start')).trim(), 'Write tests for this file');
  await page.click('#git-tree li[data-path="src"] button');
  assert.equal(await page.inputValue('#git-path'), 'src');
  assert.equal(await page.getAttribute('#git-tree li[data-path="src"] button', 'aria-pressed'), 'true');
  assert.equal((await page.textContent('#batch-start')).trim(), 'Write tests for this folder');
  await screenshot(page, 'repository-picked');

  const posted = page.waitForResponse(
    (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/batches',
  );
  await page.click('#batch-start');
  const created = await posted;
  const sent = created.request().postDataJSON();
  assert.deepEqual(
    { repo: sent.repo, branch: sent.branch, path: sent.path },
    { repo: env.repository, branch: 'main', path: 'src' },
  );
  assert.equal(created.status(), 201);
  const { id, commit } = await created.json();

  // The batch view takes the place of the single task's panels.
  await page.waitForSelector('#batch-panel', { state: 'visible' });
  assert.equal(await page.getAttribute('#batch-panel', 'data-batch-id'), id);
  assert.ok(await page.isHidden('#run-panel'));
  assert.ok(await page.isHidden('#result-panel'));
  const where = await page.textContent('#batch-where');
  assert.ok(where.includes(env.repository) && where.includes('main') && where.includes(commit.slice(0, 7)), where);

  await page.waitForSelector('#batch-status[data-batch="finished"]', { timeout: 200000 });
  await screenshot(page, 'repository-batch-finished');
  const rows = await page.$$eval('#batch-files tbody tr', (items) =>
    items.map((item) => ({
      path: item.dataset.path,
      status: item.dataset.status,
      text: item.textContent,
      coverage: item.querySelector('.coverage')?.textContent ?? '',
    })),
  );
  assert.deepEqual(rows.map((row) => row.path), ['src/calc.py', 'src/shapes.py']);
  assert.ok(rows.every((row) => FINISHED.includes(row.status)), JSON.stringify(rows));
  assert.ok(rows[0].text.includes('tests/test_calc.py'), rows[0].text);
  const succeeded = rows.filter((row) => row.status === 'succeeded');
  assert.ok(succeeded.length > 0, JSON.stringify(rows));
  for (const row of succeeded) {
    assert.match(row.coverage, /lines/, JSON.stringify(row));
  }
  // The page's counts agree with the API's.
  const { body: view } = await fetchJson(page, `/api/batches/${id}`);
  assert.equal(view.status, 'finished');
  assert.match(await page.textContent('#batch-status'), new RegExp(`${view.counts.succeeded} succeeded`));
  const skipped = await page.textContent('#batch-skipped');
  assert.match(skipped, /src\/__init__\.py — empty/);

  // The archive link is there and serves a gzip file.
  const href = await page.getAttribute('#batch-archive', 'href');
  assert.equal(href, `/api/batches/${id}/archive`);
  assert.ok(await page.isVisible('#batch-archive'));
  const archive = await fetchBytes(page, href);
  assert.equal(archive.status, 200);
  assert.deepEqual(archive.bytes.slice(0, 2), [0x1f, 0x8b]);

  // The repository holds tests/test_calc.py already: the first try says so, and the page offers
  // to replace it.
  await page.click('#batch-pr');
  await page.waitForSelector('#error[data-code="git_conflict"]', { state: 'visible' });
  assert.match(await page.textContent('#error-message'), /tests\/test_calc\.py already exists/i);
  await page.waitForSelector('#batch-pr-replace', { state: 'visible' });
  const replaced = page.waitForResponse((response) => new URL(response.url()).pathname === `/api/batches/${id}/pull-request`);
  await page.click('#batch-pr-replace');
  const pull = await replaced;
  assert.deepEqual(pull.request().postDataJSON(), { replace_existing: true });
  assert.equal(pull.status(), 201);
  await page.waitForSelector('#batch-pr-link');
  assert.match(await page.getAttribute('#batch-pr-link', 'href'), /\/pull\/1347$/);
  assert.match(await page.textContent('#batch-pr-result'), /: 2 test files on branch aiunittest\/.+\. It replaced tests\/test_calc\.py\.$/);
  assert.ok(await page.isHidden('#batch-pr'));
  assert.ok(await page.isHidden('#batch-pr-replace'));
  assert.ok(await page.isHidden('#error'), 'the banner is cleared once it worked');
  await screenshot(page, 'repository-pull-request');

  assert.deepEqual(await seriousViolations(page), []);

  // A reload shows the batch again, its pull request with it.
  assert.equal(new URL(page.url()).hash, `#batch=${id}`);
  await page.reload();
  await page.waitForSelector(`#batch-panel[data-batch-id="${id}"]`, { state: 'visible' });
  await page.waitForSelector('#batch-pr-link');
  assert.match(await page.getAttribute('#batch-pr-link', 'href'), /\/pull\/1347$/);

  // Back to the single file; the batch stays listed under the repository source, and opens again.
  await page.click('#batch-close');
  assert.ok(await page.isHidden('#batch-panel'));
  assert.ok(await page.isVisible('#run-panel'));
  assert.equal(new URL(page.url()).hash, '');
  await page.waitForSelector('#batch-history-box', { state: 'visible' });
  const listed = await page.$$eval('#batch-history button', (buttons) => buttons.map((button) => button.textContent));
  assert.equal(listed.length, 1, JSON.stringify(listed));
  assert.match(listed[0], /^acme\/widgets\/src · main @ [0-9a-f]{8} · /);
  await page.click('#batch-history button');
  await page.waitForSelector(`#batch-panel[data-batch-id="${id}"]`, { state: 'visible' });
  await page.click('#batch-close');
  assert.ok(await page.isHidden('#batch-panel'));
  await page.click('#git-forget');
  await page.waitForSelector('#git-connect', { state: 'visible' });
  assert.equal((await fetchJson(page, '/api/git/token')).status, 401);
  assertClean();
});
