// What running the generated tests found, drawn: a verdict badge per unit's tests, the task's
// validation status, coverage in percent, and the source with its covered and uncovered lines.
// Every text goes in as text (never HTML): reasons are a tool's output, the source is the user's.

import { h } from './util.js';

/** Verdict → the words on its badge. */
export const VERDICT_LABEL = {
  passed: 'passed',
  no_new_coverage: 'no new coverage',
  flaky: 'flaky',
  failed: 'failed',
  build_failed: 'did not build',
  limit_exceeded: 'limit',
  missing_module: 'missing module',
  not_run: 'not run',
};

/** Verdict → what the badge's colour says; the words say it too, so colour is never alone. */
const VERDICT_TONE = {
  passed: 'good',
  no_new_coverage: 'neutral',
  flaky: 'warn',
  failed: 'bad',
  build_failed: 'bad',
  limit_exceeded: 'warn',
  missing_module: 'warn',
  not_run: 'neutral',
};

const VERDICT_MEANING = {
  passed: 'built, passed every run and added coverage',
  no_new_coverage: 'built and passed every run, but covered nothing the tests before it did not',
  flaky: 'passed some runs and failed others',
  failed: 'built but failed, after every round of feedback',
  build_failed: 'did not build (compile or import error), after every round of feedback',
  limit_exceeded: 'a sandbox limit stopped it (time, memory, processes or output)',
  missing_module: 'the source needs a module that is not there',
  not_run: 'not run',
};

export function verdictLabel(verdict) {
  return VERDICT_LABEL[verdict] ?? String(verdict).replaceAll('_', ' ');
}

/** The badge of a verdict; its title gives the meaning and, when there is one, the reason. */
export function verdictBadge(verdict, reason) {
  const meaning = VERDICT_MEANING[verdict] ?? '';
  const title = [meaning && `${verdictLabel(verdict)}: ${meaning}`, reason].filter(Boolean).join('\n');
  return h(
    'span',
    { class: 'badge verdict', dataset: { verdict, tone: VERDICT_TONE[verdict] ?? 'neutral' }, title: title || undefined },
    verdictLabel(verdict),
  );
}

/** "not run: no sandbox" → "no sandbox": the status already says "not run". */
function withoutPrefix(reason, prefix) {
  const text = String(reason ?? '').trim();
  return text.toLowerCase().startsWith(prefix) ? text.slice(prefix.length).trim() : text;
}

const STATUS_LABEL = {
  validated: 'validated',
  syntax_only: 'syntax only',
  not_run: 'not run',
  failed: 'failed',
};

/** `{label, text}` for a validation status: the badge and the sentence beside it. */
export function describeStatus(validation) {
  const { status, reason, tool, runs } = validation;
  const label = STATUS_LABEL[status] ?? String(status);
  switch (status) {
    case 'validated': {
      const how = [tool, runs ? `${runs} sandbox ${runs === 1 ? 'run' : 'runs'}` : ''].filter(Boolean).join(', ');
      return { label, text: `Every delivered test built and passed, run after run${how ? ` (${how})` : ''}.` };
    }
    case 'syntax_only':
      return { label, text: `Not run, only checked to parse: ${withoutPrefix(reason, 'not run:') || 'validation was turned off'}.` };
    case 'not_run':
      return { label, text: `Not run: ${withoutPrefix(reason, 'not run:') || 'no reason was given'}.` };
    case 'failed':
      return { label, text: `The delivered tests passed one by one but not as one file: ${reason || 'no reason was given'}.` };
    default:
      return { label, text: reason ? `${reason}.` : '' };
  }
}

function percent(part, whole) {
  return whole > 0 ? Math.round((part * 1000) / whole) / 10 : 0;
}

/** `{lines, branches}` as "85.7 % (12 of 14 lines)"; branches only where the tool measured them. */
export function coverageFigures(coverage) {
  const lines =
    coverage.lines_total > 0
      ? `${percent(coverage.lines_covered, coverage.lines_total)} % (${coverage.lines_covered} of ${coverage.lines_total} lines)`
      : 'no executable lines';
  let branches = null;
  if (typeof coverage.branches_total === 'number' && typeof coverage.branches_covered === 'number') {
    branches =
      coverage.branches_total > 0
        ? `${percent(coverage.branches_covered, coverage.branches_total)} % (${coverage.branches_covered} of ${coverage.branches_total} branches)`
        : 'no branches';
  }
  return { lines, branches };
}

/** [1, 2, 3, 7, 9, 10] → "1–3, 7, 9–10". */
export function lineRanges(lines) {
  const sorted = [...new Set(lines)].filter(Number.isInteger).sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) {
      j += 1;
    }
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

const LINE_MARK = { covered: '✓', uncovered: '✗', none: '·' };
const LINE_WORDS = { covered: 'covered', uncovered: 'not covered', none: 'not executable' };

/**
 * The source, one element per line, each marked in the gutter (✓ covered, ✗ not covered, · not
 * executable) and named in words for hover and for screen readers.
 */
export function coverageLines(source, coverage) {
  const covered = new Set(coverage.covered_lines ?? []);
  const uncovered = new Set(coverage.uncovered_lines ?? []);
  const lines = source.replace(/\n$/, '').split('\n');
  return lines.map((text, index) => {
    const number = index + 1;
    const kind = uncovered.has(number) ? 'uncovered' : covered.has(number) ? 'covered' : 'none';
    const words = `Line ${number}: ${LINE_WORDS[kind]}`;
    return h(
      'div',
      { class: 'cov-line', dataset: { line: String(number), coverage: kind }, title: words },
      h('span', { class: 'cov-num', 'aria-hidden': 'true' }, String(number)),
      h('span', { class: 'cov-mark', 'aria-hidden': 'true' }, LINE_MARK[kind]),
      h('span', { class: 'visually-hidden' }, `${words}: `),
      h('code', { class: 'cov-code' }, text === '' ? ' ' : text),
    );
  });
}
