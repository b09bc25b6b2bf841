// What running the generated tests found, as the page shows it: a unit validating in its second
// round, a verdict badge per unit as `test_result` comes, the validation status, coverage in
// percent and the source with its lines marked; a task whose tests were not run says so and why,
// never as a pass; and a finished task reopened from the history shows the same. The API is
// answered here (the runner's findings cannot be made to order by the real stack); the page itself
// is the one the stack serves.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PYTHON_SOURCE, launch, openPage, paste, screenshot, seriousViolations } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const TASK_ID = '0190a0a0-0000-7000-8000-000000000001';
const FILE_NAME = 'test_inventory.py';
const UNITS = [
  { name: 'add', kind: 'function', line: 4 },
  { name: '__init__', kind: 'method', container: 'Stock', line: 10 },
  { name: 'restock', kind: 'method', container: 'Stock', line: 14 },
];
const FLAKY_REASON = 'AssertionError: assert 3 == 4\n<script>alert(1)</script> passed 1 of 3 runs';
const COVERAGE = {
  lines_total: 10,
  lines_covered: 6,
  branches_total: 2,
  branches_covered: 1,
  covered_lines: [1, 4, 6, 9, 10, 14],
  uncovered_lines: [11, 12, 15, 16],
};
const NOT_RUN_REASON = 'not run: no sandbox (bwrap is not installed)';

const json = (body, status = 200) => ({
  status,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(body),
});

const sse = (events) => ({
  status: 200,
  headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' },
  body: events
    .map(([seq, event, data]) => `id: ${seq}\nevent: ${event}\ndata: ${JSON.stringify({ task_id: TASK_ID, seq, event, ...data })}\n\n`)
    .join(''),
});

function task(status, extra = {}) {
  return {
    id: TASK_ID,
    status,
    file_name: 'inventory.py',
    language: 'python',
    framework: 'pytest',
    model: 'simulator',
    created_at: new Date().toISOString(),
    source: PYTHON_SOURCE,
    validate: 'run',
    keep: 'covering',
    ...extra,
  };
}

/** The task once its tests ran: `add`'s kept, the other two left out; 60 % of lines covered. */
function validatedTask(extra = {}) {
  return task('succeeded', {
    progress: { percent: 100, completed: 3, total: 3 },
    result: {
      file_name: FILE_NAME,
      code: 'def test_add():\n    assert add(1, 2) == 3\n',
      units: [{ name: 'add', kind: 'function', start_line: 4, code: 'def test_add():\n    assert add(1, 2) == 3\n', verdict: 'passed' }],
    },
    warnings: [
      { unit: 'Stock.__init__', message: 'left out (no_new_coverage): covers nothing new' },
      { unit: 'Stock.restock', message: `left out (flaky): ${FLAKY_REASON}` },
    ],
    validation: {
      status: 'validated',
      tool: 'pytest + coverage.py',
      runs: 7,
      tests: [
        { unit: 'add', verdict: 'passed', kept: true, rounds: 2, reruns: 2, rerun_passes: 2, added_lines: [4, 6], added_branches: 1, has_assertion: true },
        { unit: 'Stock.__init__', verdict: 'no_new_coverage', kept: false, rounds: 1, reruns: 2, rerun_passes: 2, reason: 'covers nothing new', added_lines: [], added_branches: 0, has_assertion: true },
        { unit: 'Stock.restock', verdict: 'flaky', kept: false, rounds: 1, reruns: 2, rerun_passes: 0, reason: FLAKY_REASON, added_lines: [], added_branches: 0, has_assertion: true },
      ],
      coverage: COVERAGE,
    },
    ...extra,
  });
}

/**
 * Answers every `/api/` request of the context: languages, models, queue, history, creating the
 * task, its events (`streams`, one per connection, each awaited) and the task (`current()`).
 */
async function stubApi(context, { streams, current, history = [] }) {
  const seen = { created: [], lastEventIds: [] };
  await context.route('**/api/**', async (route) => {
    const request = route.request();
    const { pathname } = new URL(request.url());
    if (pathname === '/api/languages') {
      return route.fulfill(
        json({
          languages: ['python'],
          details: [
            {
              id: 'python',
              name: 'Python',
              extensions: ['py'],
              frameworks: [{ id: 'pytest', name: 'pytest' }],
              default_framework: 'pytest',
            },
          ],
        }),
      );
    }
    if (pathname === '/api/models') {
      return route.fulfill(
        json({
          models: ['simulator'],
          default_model: 'simulator',
          details: [{ id: 'simulator', name: 'Simulator', kind: 'hosted', available: true, default: true }],
        }),
      );
    }
    if (pathname === '/api/queue') {
      return route.fulfill(json({ queued: 0, running: 0, capacity: 4, yours: {} }));
    }
    if (pathname === '/api/tasks' && request.method() === 'POST') {
      seen.created.push(request.postDataJSON());
      return route.fulfill(json({ id: TASK_ID, status: 'queued', position: 1 }, 202));
    }
    if (pathname === '/api/tasks') {
      return route.fulfill(json({ tasks: history }));
    }
    if (pathname === `/api/tasks/${TASK_ID}/events`) {
      seen.lastEventIds.push(request.headers()['last-event-id'] ?? null);
      const next = streams.shift();
      return route.fulfill(next ? sse(await next()) : json({ error: { code: 'gone', message: 'no more' } }, 404));
    }
    if (pathname === `/api/tasks/${TASK_ID}`) {
      return route.fulfill(json(current()));
    }
    return route.fulfill(json({ error: { code: 'not_found', message: `no stub for ${pathname}` } }, 404));
  });
  return seen;
}

test('verdicts, validation status, coverage and marked source lines', { timeout: 60000 }, async () => {
  let releaseRest;
  const rest = new Promise((resolve) => {
    releaseRest = resolve;
  });
  let current = task('running', { progress: { percent: 0, completed: 0, total: 3 } });
  let seen;
  const { context, page, assertClean } = await openPage(browser, {
    beforeLoad: async (context) => {
      seen = await stubApi(context, {
        current: () => current,
        streams: [
          // The first connection ends while `add` is in its second round; the page comes back
          // for the rest once the test has looked.
          async () => [
            [1, 'started', { attempt: 1 }],
            [2, 'parsing_completed', { units: UNITS, progress: 0, completed: 0, total: 3 }],
            [3, 'generating', { unit: 'add', progress: 0, completed: 0, total: 3 }],
            [4, 'validating', { unit: 'add', round: 1, progress: 0, completed: 0, total: 3 }],
            [5, 'validating', { unit: 'add', round: 2, progress: 0, completed: 0, total: 3 }],
          ],
          async () => {
            await rest;
            return [
              [6, 'result', { unit: 'add', code: 'def test_add():\n    assert add(1, 2) == 3\n', progress: 33, completed: 1, total: 3 }],
              [7, 'generating', { unit: 'Stock.__init__' }],
              [8, 'validating', { unit: 'Stock.__init__', round: 1 }],
              [9, 'result', { unit: 'Stock.__init__', code: 'def test_init():\n    assert Stock("a").count == 0\n', progress: 67, completed: 2, total: 3 }],
              [10, 'generating', { unit: 'Stock.restock' }],
              [11, 'validating', { unit: 'Stock.restock', round: 1 }],
              [12, 'result', { unit: 'Stock.restock', code: 'def test_restock():\n    assert Stock("a").restock(3) == 4\n', progress: 100, completed: 3, total: 3 }],
              [13, 'test_result', { unit: 'add', verdict: 'passed', kept: true, added_lines: 2 }],
              [14, 'test_result', { unit: 'Stock.__init__', verdict: 'no_new_coverage', kept: false, reason: 'covers nothing new', added_lines: 0 }],
              [15, 'test_result', { unit: 'Stock.restock', verdict: 'flaky', kept: false, reason: FLAKY_REASON, added_lines: 0 }],
              [16, 'validating', { unit: FILE_NAME, round: 1 }],
              [17, 'coverage', { status: 'validated', coverage: COVERAGE }],
              [18, 'completed', { file_name: FILE_NAME, tests: 1 }],
            ];
          },
        ],
      });
    },
  });

  // Both checks are in the form, reachable by keyboard; the defaults run the tests and keep only
  // tests that add coverage.
  assert.equal(await page.isChecked('#validate-run'), true);
  assert.equal(await page.isChecked('#keep-passing'), false);
  await page.getByLabel('Validate by running the tests').focus();
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#validate-run'), false);
  assert.equal(await page.isDisabled('#keep-passing'), true, 'keeping by coverage means nothing when nothing runs');
  await page.keyboard.press('Space');
  assert.equal(await page.isDisabled('#keep-passing'), false);

  await page.fill('#file-name', 'inventory.py');
  await paste(page, PYTHON_SOURCE);
  await page.click('#generate');

  // While it runs: the unit is in its second round.
  const add = page.locator('#units li[data-unit="add"]');
  await page.waitForSelector('#units li[data-unit="add"][data-state="validating"]');
  await page.waitForFunction(() =>
    document.querySelector('#units li[data-unit="add"] .unit-state')?.textContent === 'validating (round 2)',
  );
  assert.deepEqual(seen.created, [
    { source: PYTHON_SOURCE, language: 'python', framework: 'pytest', model: 'simulator', validate: 'run', keep: 'covering', filename: 'inventory.py' },
  ]);
  await screenshot(page, 'validation-round-2');
  current = validatedTask();
  releaseRest();

  await page.waitForSelector('#status[data-status="succeeded"]');
  await page.waitForSelector('#status:has-text("Validated.")');
  assert.deepEqual(seen.lastEventIds, [null, '5'], 'the second connection resumed after event 5');

  // A badge per unit's tests, and which were kept.
  const verdicts = await page.$$eval('#units li', (items) =>
    items.map((item) => ({
      unit: item.dataset.unit,
      verdict: item.dataset.verdict,
      kept: item.dataset.kept,
      badge: item.querySelector('.verdict')?.textContent,
      state: item.querySelector('.unit-state')?.textContent,
    })),
  );
  assert.deepEqual(verdicts, [
    { unit: 'add', verdict: 'passed', kept: 'true', badge: 'passed', state: 'kept' },
    { unit: 'Stock.__init__', verdict: 'no_new_coverage', kept: 'false', badge: 'no new coverage', state: 'left out' },
    { unit: 'Stock.restock', verdict: 'flaky', kept: 'false', badge: 'flaky', state: 'left out' },
  ]);
  assert.match(await add.textContent(), /\+2 lines · \+1 branch · 2 rounds/);

  // The reason: on hover (title) and behind a disclosure that opens from the keyboard, as text.
  const flaky = page.locator('#units li[data-unit="Stock.restock"]');
  assert.ok((await flaky.locator('.verdict').getAttribute('title')).includes(FLAKY_REASON));
  assert.match(await flaky.textContent(), /passed 1 of 3 runs/);
  const reason = flaky.locator('.reason-text');
  assert.equal(await reason.isVisible(), false);
  await flaky.locator('summary').focus();
  await page.keyboard.press('Enter');
  assert.equal(await reason.isVisible(), true);
  assert.equal(await reason.textContent(), FLAKY_REASON);
  assert.equal(await page.locator('#units script').count(), 0, 'a reason is text, never HTML');

  // The validation status, and the coverage in percent.
  assert.equal(await page.isVisible('#validation'), true);
  assert.equal(await page.getAttribute('#validation-status', 'data-status'), 'validated');
  assert.match(await page.textContent('#validation-status'), /^validated Every delivered test built and passed.*pytest \+ coverage\.py, 7 sandbox runs/);
  assert.match(await page.textContent('#validation-summary'), /Tests of 1 of 3 units kept \(1 passed, 1 no new coverage, 1 flaky\)/);
  assert.equal(await page.textContent('#coverage-summary dd[data-coverage="lines"]'), '60 % (6 of 10 lines)');
  assert.equal(await page.textContent('#coverage-summary dd[data-coverage="branches"]'), '50 % (1 of 2 branches)');

  // The source, every line marked: a gutter mark and words, not colour alone.
  const lines = await page.$$eval('#coverage-view .cov-line', (items) =>
    items.map((item) => ({
      line: Number(item.dataset.line),
      coverage: item.dataset.coverage,
      mark: item.querySelector('.cov-mark').textContent,
      title: item.title,
      spoken: item.querySelector('.visually-hidden').textContent,
      code: item.querySelector('.cov-code').textContent,
    })),
  );
  const sourceLines = PYTHON_SOURCE.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, sourceLines.length);
  for (const line of lines) {
    const expected = COVERAGE.uncovered_lines.includes(line.line)
      ? ['uncovered', '✗', 'not covered']
      : COVERAGE.covered_lines.includes(line.line)
        ? ['covered', '✓', 'covered']
        : ['none', '·', 'not executable'];
    assert.deepEqual([line.coverage, line.mark, line.title], [expected[0], expected[1], `Line ${line.line}: ${expected[2]}`], JSON.stringify(line));
    assert.equal(line.spoken, `Line ${line.line}: ${expected[2]}: `);
    assert.equal(line.code.trimEnd(), sourceLines[line.line - 1].trimEnd() || '');
  }
  assert.equal(await page.textContent('#uncovered-list'), 'Lines not covered: 11–12, 15–16.');
  assert.equal(await page.locator('.coverage-legend li').count(), 3);

  // The new events are in the log, in words.
  const logged = await page.$$eval('#events li', (items) => items.map((item) => [item.dataset.event, item.querySelector('.event-text').textContent]));
  assert.ok(logged.some(([event, text]) => event === 'validating' && text === 'Running the tests of add (round 2, after feedback).'), JSON.stringify(logged));
  assert.ok(logged.some(([event, text]) => event === 'validating' && text === `Running ${FILE_NAME} as a whole.`));
  assert.ok(logged.some(([event, text]) => event === 'test_result' && text === 'add: passed, kept, 2 new lines'));
  assert.ok(logged.some(([event, text]) => event === 'coverage' && text.includes('60 % (6 of 10 lines)')));
  assert.equal(await page.locator('#units li').count(), 3, 'the whole-file run is not a unit');

  // The validation section keeps the page accessible.
  await page.locator('#validation').scrollIntoViewIfNeeded();
  await screenshot(page, 'validation-validated');
  assert.deepEqual(await seriousViolations(page), []);
  assertClean();
  await context.close();
});

test('tests that were not run say why, and never read as passed', { timeout: 60000 }, async () => {
  let current = task('running');
  let seen;
  const { context, page, assertClean } = await openPage(browser, {
    beforeLoad: async (context) => {
      seen = await stubApi(context, {
        current: () => current,
        streams: [
          async () => {
            current = task('succeeded', {
              keep: 'passing',
              progress: { percent: 100, completed: 1, total: 1 },
              result: {
                file_name: FILE_NAME,
                code: 'def test_add():\n    assert add(1, 2) == 3\n',
                units: [{ name: 'add', kind: 'function', start_line: 4, code: 'def test_add():\n    assert add(1, 2) == 3\n' }],
              },
              validation: { status: 'not_run', reason: NOT_RUN_REASON, runs: 0, tests: [] },
            });
            return [
              [1, 'started', { attempt: 1 }],
              [2, 'parsing_completed', { units: [UNITS[0]], progress: 0, completed: 0, total: 1 }],
              [3, 'generating', { unit: 'add' }],
              [4, 'result', { unit: 'add', code: 'def test_add():\n    assert add(1, 2) == 3\n', progress: 100, completed: 1, total: 1 }],
              [5, 'coverage', { status: 'not_run', reason: NOT_RUN_REASON }],
              [6, 'completed', { file_name: FILE_NAME, tests: 1 }],
            ];
          },
        ],
      });
    },
  });

  await page.check('#keep-passing');
  await paste(page, PYTHON_SOURCE);
  await page.click('#generate');
  await page.waitForSelector('#status[data-status="succeeded"]');
  await page.waitForSelector('#status:has-text("Tests not run.")');
  assert.equal(seen.created[0].validate, 'run');
  assert.equal(seen.created[0].keep, 'passing');

  // The status and its reason, visible; nothing on the page reads as a pass.
  assert.equal(await page.isVisible('#validation-status'), true);
  assert.equal(await page.getAttribute('#validation-status', 'data-status'), 'not_run');
  assert.equal(await page.textContent('#validation-status .validation-badge'), 'not run');
  assert.equal(await page.textContent('#validation-status .validation-text'), 'Not run: no sandbox (bwrap is not installed).');
  const status = await page.textContent('#status');
  assert.doesNotMatch(status, /validated/i);
  assert.equal(await page.locator('.verdict[data-verdict="passed"]').count(), 0);
  assert.equal(await page.locator('#units li[data-verdict]').count(), 0, 'no unit has a verdict it was not given');
  assert.doesNotMatch(await page.textContent('#validation'), /validated|passed/i);
  assert.equal(await page.isVisible('#coverage-summary'), false, 'no coverage figure without a run');
  assert.equal(await page.isVisible('#coverage-source'), false);
  assert.ok(
    (await page.$$eval('#events li[data-event="coverage"]', (items) => items.map((item) => item.textContent))).some((text) =>
      text.includes('Not run: no sandbox (bwrap is not installed).'),
    ),
  );

  await page.locator('#validation').scrollIntoViewIfNeeded();
  await screenshot(page, 'validation-not-run');

  // Validation off asks for a syntax check only, and the next task starts without the last one's
  // validation.
  await page.uncheck('#validate-run');
  current = task('running');
  await page.click('#generate');
  await page.waitForFunction(() => document.querySelector('#validation')?.hidden === true);
  assert.equal(seen.created[1].validate, 'syntax');
  assertClean();
  await context.close();
});

test('a finished task reopened from the history shows its verdicts, checks and coverage', { timeout: 60000 }, async () => {
  const reopened = validatedTask({ keep: 'passing' });
  const { context, page, assertClean } = await openPage(browser, {
    beforeLoad: (context) =>
      stubApi(context, {
        current: () => reopened,
        streams: [],
        history: [{ id: TASK_ID, status: 'succeeded', file_name: 'inventory.py', language: 'python', framework: 'pytest', model: 'simulator', created_at: reopened.created_at }],
      }),
  });
  await page.getByRole('button', { name: 'Open inventory.py' }).click();
  await page.waitForSelector('#status[data-status="succeeded"]');
  assert.match(await page.textContent('#status'), /Validated\./);
  assert.equal(await page.isChecked('#validate-run'), true);
  assert.equal(await page.isChecked('#keep-passing'), true, 'the task kept every passing test');
  const verdicts = await page.$$eval('#units li', (items) => items.map((item) => [item.dataset.unit, item.dataset.verdict, item.dataset.kept]));
  assert.deepEqual(verdicts, [
    ['add', 'passed', 'true'],
    ['Stock.__init__', 'no_new_coverage', 'false'],
    ['Stock.restock', 'flaky', 'false'],
  ]);
  assert.equal(await page.textContent('#coverage-summary dd[data-coverage="lines"]'), '60 % (6 of 10 lines)');
  assert.equal(await page.locator('#coverage-view .cov-line[data-coverage="uncovered"]').count(), COVERAGE.uncovered_lines.length);
  assert.equal(await page.locator('#coverage-view .cov-line[data-coverage="covered"]').count(), COVERAGE.covered_lines.length);
  assertClean();
  await context.close();
});
