// What every browser test shares: where the stack is, Chromium, pages that collect their errors,
// screenshots, and small helpers that ask the API from inside the page (so with the page's own
// session cookie).
//
// The stack is started by `cargo test -p aiut-system-tests --test browser`, which sets:
//   AIUT_UI_URL                the gateway (loopback trusted: no rate limits)
//   AIUT_UI_LIMITED_URL        a gateway over the same replicas with a tight API rate limit
//   AIUT_UI_MAX_SOURCE_BYTES   the api's source size limit
//   AIUT_UI_SLOW_MODEL         a model that takes long to answer (for cancelling)
//   AIUT_UI_UNAVAILABLE_MODEL  a model whose key is not set
//   AIUT_UI_ADMIN_PASSWORD     the administrator's password
//   AIUT_UI_NEW_ENDPOINT_URL   an OpenAI-compatible endpoint no model of the registry uses yet
//   AIUT_UI_NEW_ENDPOINT_KEY   the key it demands
//   AIUT_UI_GITHUB_URL         a stand-in GitHub API whose repositories a local git server serves
//   AIUT_UI_FORGE_TOKEN        the token both admit
//   AIUT_UI_REPOSITORY         the repository (owner/name) with sources under src/
//   AIUT_UI_ARTIFACTS          where screenshots go
//   AIUT_CHROMIUM              the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: these tests run against the stack that ` +
        '`cargo test -p aiut-system-tests --test browser` starts',
    );
  }
  return value;
}

export const env = {
  url: required('AIUT_UI_URL').replace(/\/$/, ''),
  limitedUrl: (process.env.AIUT_UI_LIMITED_URL ?? '').replace(/\/$/, ''),
  maxSourceBytes: Number(process.env.AIUT_UI_MAX_SOURCE_BYTES ?? 1024 * 1024),
  slowModel: process.env.AIUT_UI_SLOW_MODEL ?? 'simulator-slow',
  unavailableModel: process.env.AIUT_UI_UNAVAILABLE_MODEL ?? 'hosted',
  adminPassword: process.env.AIUT_UI_ADMIN_PASSWORD ?? '',
  newEndpointUrl: process.env.AIUT_UI_NEW_ENDPOINT_URL ?? '',
  newEndpointKey: process.env.AIUT_UI_NEW_ENDPOINT_KEY ?? '',
  githubUrl: process.env.AIUT_UI_GITHUB_URL ?? '',
  forgeToken: process.env.AIUT_UI_FORGE_TOKEN ?? '',
  repository: process.env.AIUT_UI_REPOSITORY ?? '',
  artifacts: process.env.AIUT_UI_ARTIFACTS ?? resolve(here, '../../target/ui-artifacts'),
  chromium: process.env.AIUT_CHROMIUM ?? '/usr/bin/chromium',
};

mkdirSync(env.artifacts, { recursive: true });

/**
 * Debian's Chromium, headless. The machine may have no network: these flags keep Chromium from
 * reaching out (and hanging on refused connections). Playwright gives each launch a fresh
 * temporary profile (`--user-data-dir`), removed when the browser closes.
 */
export async function launch() {
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    timeout: 30000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A page in a context of its own (its own cookies, so its own session), collecting console
 * errors and uncaught exceptions. Error answers the page expects (4xx shown to the user) log
 * "Failed to load resource"; those are not the page's errors. `beforeLoad(context)` runs before
 * the page is opened: where a test answers the API itself (`context.route`). `path` is the page
 * to open: `/` or `/admin`.
 */
export async function openPage(browser, { colorScheme = 'light', baseUrl = env.url, path = '/', viewport, beforeLoad } = {}) {
  const context = await browser.newContext({
    acceptDownloads: true,
    colorScheme,
    viewport: viewport ?? { width: 1366, height: 900 },
  });
  await beforeLoad?.(context);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      errors.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.setDefaultTimeout(20000);
  await page.goto(`${baseUrl}${path}`);
  await waitReady(page);
  return {
    context,
    page,
    errors,
    /** No console error, no uncaught exception, no CSP refusal so far. */
    assertClean() {
      assert.deepEqual(errors, [], 'the page logged errors');
    },
  };
}

/** Until the page has loaded its languages, models, history and queue. */
export async function waitReady(page) {
  await page.waitForSelector('body[data-ready="true"]');
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(env.artifacts, `${name}.png`), fullPage: true });
}

/** `GET path` from inside the page: the page's cookies, the page's origin. */
export async function fetchJson(page, path) {
  return page.evaluate(async (url) => {
    const response = await fetch(url, { cache: 'no-store' });
    return { status: response.status, body: await response.json() };
  }, path);
}

/** `GET path` from inside the page, as bytes, with the response headers asked for. */
export async function fetchBytes(page, path) {
  return page.evaluate(async (url) => {
    const response = await fetch(url, { cache: 'no-store' });
    const bytes = new Uint8Array(await response.arrayBuffer());
    return {
      status: response.status,
      bytes: Array.from(bytes),
      disposition: response.headers.get('content-disposition'),
      type: response.headers.get('content-type'),
    };
  }, path);
}

/** Fills the editor as pasting would: the textarea's value changes and `input` fires. */
export async function paste(page, source) {
  await page.fill('#editor', source);
}

/** Clicks Generate and returns the answer of the `POST /api/tasks` it sent. */
export async function generate(page) {
  const posted = page.waitForResponse(
    (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/api/tasks',
  );
  await page.click('#generate');
  const response = await posted;
  return { status: response.status(), body: await response.json() };
}

export async function axeSource() {
  const require = createRequire(import.meta.url);
  return readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
}

/** Runs axe-core in the page; returns the violations of impact `serious` or `critical`. */
export async function seriousViolations(page) {
  await page.evaluate(await axeSource());
  const violations = await page.evaluate(async () => {
    const results = await axe.run(document, { resultTypes: ['violations'] });
    return results.violations.map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      nodes: violation.nodes.slice(0, 5).map((node) => `${node.target.join(' ')}: ${node.failureSummary}`),
    }));
  });
  return violations.filter((violation) => ['serious', 'critical'].includes(violation.impact));
}

export const PYTHON_SOURCE = `"""Small helpers for an inventory."""


def add(a: int, b: int) -> int:
    """Adds two quantities."""
    return a + b


class Stock:
    def __init__(self, name: str):
        self.name = name
        self.count = 0

    def restock(self, amount: int) -> int:
        self.count += amount
        return self.count
`;

export const GO_SOURCE = `package mathx

// Add adds two numbers.
func Add(a, b int) int {
\treturn a + b
}
`;

export const RUST_SOURCE = `/// Doubles a number.
pub fn double(x: i64) -> i64 {
    x * 2
}
`;
