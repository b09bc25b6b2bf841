// The page: the source editor and its pickers, a task's live progress, its result, the caller's
// task history and the queue indicator. Everything goes through the JSON API of the same origin;
// the session cookie the API sets names the caller.

import { api, ApiError } from './api.js';
import { CodeEditor, CodeView } from './editor.js';
import { hideBatch, repositoryTabShown, wireRepository } from './repository.js';
import { followTask } from './stream.js';
import { wireThemeButton } from './theme-button.js';
import { byId, formatBytes, formatCount, formatTime, h, utf8Length } from './util.js';
import { coverageFigures, coverageLines, describeStatus, lineRanges, verdictBadge, verdictLabel } from './validation.js';

const MAX_SOURCE_BYTES =
  Number(document.querySelector('meta[name="aiut-max-source-bytes"]')?.getAttribute('content')) ||
  1024 * 1024;
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const QUEUE_EVERY_MS = 5000;
const QUEUE_EVERY_ACTIVE_MS = 2000;
const LOG_LIMIT = 300;

const el = {
  fileInput: byId('file-input'),
  fileName: byId('file-name'),
  dropZone: byId('drop-zone'),
  editorStats: byId('editor-stats'),
  language: byId('language'),
  languageHint: byId('language-hint'),
  framework: byId('framework'),
  model: byId('model'),
  modelHint: byId('model-hint'),
  unavailable: byId('unavailable-models'),
  validateRun: byId('validate-run'),
  keepPassing: byId('keep-passing'),
  generate: byId('generate'),
  cancel: byId('cancel'),
  status: byId('status'),
  progress: byId('progress'),
  progressLabel: byId('progress-label'),
  units: byId('units'),
  unitsEmpty: byId('units-empty'),
  events: byId('events'),
  eventsLog: byId('events-log'),
  resultName: byId('result-name'),
  resultNote: byId('result-note'),
  validation: byId('validation'),
  validationStatus: byId('validation-status'),
  validationSummary: byId('validation-summary'),
  coverageSummary: byId('coverage-summary'),
  coverageSource: byId('coverage-source'),
  coverageView: byId('coverage-view'),
  uncoveredList: byId('uncovered-list'),
  copy: byId('copy'),
  download: byId('download'),
  history: byId('history'),
  historyEmpty: byId('history-empty'),
  queue: byId('queue'),
  queueText: byId('queue-text'),
  queueTokens: byId('queue-tokens'),
  theme: byId('theme'),
  error: byId('error'),
  errorTitle: byId('error-title'),
  errorMessage: byId('error-message'),
  errorCode: byId('error-code'),
  errorRetry: byId('error-retry'),
  retryCountdown: byId('retry-countdown'),
};

const state = {
  languages: [],
  models: [],
  /** Whether the language was picked by hand (then a file name no longer changes it). */
  languageChosen: false,
  /** The task shown in the progress and result panels. */
  run: null,
  submitting: false,
  /** Until when (ms since the epoch) the server asked us to wait. */
  waitUntil: 0,
  countdown: 0,
  queueTimer: 0,
};

const editor = new CodeEditor({
  textarea: byId('editor'),
  layer: byId('editor-highlight'),
  gutter: byId('editor-gutter'),
  onChange: (text) => showEditorStats(text),
});
const resultView = new CodeView({ code: byId('result-code'), gutter: byId('result-gutter') });

// ------------------------------------------------------------------------------------------------
// Messages.

const TITLES = {
  0: 'Cannot reach the server.',
  400: 'The request was refused.',
  404: 'Not found.',
  409: 'Not possible now.',
  413: 'The source is too large.',
  415: 'The upload was refused.',
  422: 'Cannot generate tests for this source.',
  429: 'Too many requests.',
  502: 'Generation failed.',
  503: 'The service is unavailable.',
  504: 'The server took too long.',
};

/** Titles of refusals that say more than their status. */
const CODE_TITLES = {
  daily_token_budget_spent: 'Today\'s token budget is spent.',
};

/**
 * Refusals whose `Retry-After` is not a wait worth counting down: a spent daily budget is renewed
 * at midnight UTC, and sources already answered are still served from the cache until then.
 */
const NO_COUNTDOWN = new Set(['daily_token_budget_spent']);

/** Shows a problem in the banner: `{title, message, code, retryAfter}`. */
function showProblem({ title, message, code = '', retryAfter = null, status = '' }) {
  el.errorTitle.textContent = title;
  el.errorMessage.textContent = message;
  el.errorCode.textContent = code ? `(${code})` : '';
  el.error.dataset.status = String(status);
  el.error.dataset.code = code;
  el.error.hidden = false;
  if (retryAfter !== null && retryAfter > 0) {
    startCountdown(retryAfter);
  } else {
    el.errorRetry.hidden = true;
  }
}

function showError(error) {
  if (!(error instanceof ApiError)) {
    console.error(error);
    showProblem({ title: 'Something went wrong in the page.', message: String(error?.message ?? error) });
    return;
  }
  const title =
    CODE_TITLES[error.code] ?? TITLES[error.status] ?? (error.status >= 500 ? 'The server failed.' : 'The request failed.');
  const waits = (error.status === 429 || error.status === 503) && !NO_COUNTDOWN.has(error.code);
  showProblem({
    title,
    message: sentence(error.message),
    code: error.code,
    retryAfter: waits ? error.retryAfter : null,
    status: error.status,
  });
}

function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) {
    return '';
  }
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function clearProblem() {
  el.error.hidden = true;
  el.errorRetry.hidden = true;
}

function startCountdown(seconds) {
  state.waitUntil = Date.now() + seconds * 1000;
  el.errorRetry.hidden = false;
  clearInterval(state.countdown);
  const tick = () => {
    const left = Math.max(0, Math.ceil((state.waitUntil - Date.now()) / 1000));
    el.retryCountdown.textContent = String(left);
    if (left === 0) {
      clearInterval(state.countdown);
      state.countdown = 0;
      el.errorRetry.textContent = 'You can try again now.';
    }
    updateGenerate();
  };
  // The sentence may have been replaced by "try again now" earlier.
  el.errorRetry.replaceChildren('You can try again in ', el.retryCountdown, ' s.');
  tick();
  state.countdown = setInterval(tick, 250);
}

function waitingSeconds() {
  return Math.max(0, Math.ceil((state.waitUntil - Date.now()) / 1000));
}

// ------------------------------------------------------------------------------------------------
// Pickers.

function languageById(id) {
  return state.languages.find((language) => language.id === id);
}

function detectLanguage(fileName) {
  const base = fileName.trim().split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot <= 0) {
    return { extension: null, language: null };
  }
  const extension = base.slice(dot + 1).toLowerCase();
  const language = state.languages.find((candidate) => candidate.extensions.includes(extension));
  return { extension, language: language ?? null };
}

function renderLanguages() {
  el.language.replaceChildren(
    ...state.languages.map((language) => h('option', { value: language.id }, language.name)),
  );
  el.languageHint.textContent = 'Give a file name to detect it, or pick it.';
  renderFrameworks();
}

function renderFrameworks() {
  const language = languageById(el.language.value);
  const frameworks = language?.frameworks ?? [];
  el.framework.replaceChildren(
    ...frameworks.map((framework) =>
      h('option', { value: framework.id, selected: framework.id === language.default_framework }, framework.name),
    ),
  );
  editor.setLanguage(el.language.value);
}

function setLanguage(id, hint) {
  if (el.language.value !== id) {
    el.language.value = id;
    renderFrameworks();
  }
  el.languageHint.textContent = hint;
}

function onFileNameChanged() {
  const { extension, language } = detectLanguage(el.fileName.value);
  if (language && !state.languageChosen) {
    setLanguage(language.id, `Detected from the file name (.${extension}).`);
  } else if (language && language.id !== el.language.value) {
    el.languageHint.textContent = `The file name says ${language.name}; you chose ${languageById(el.language.value)?.name}.`;
  } else if (extension && !language) {
    el.languageHint.textContent = `.${extension} is not a known extension: pick the language.`;
  }
}

function renderModels(body) {
  state.models = body.details;
  el.model.replaceChildren(
    ...state.models.map((model) => {
      let label = model.name;
      if (model.default) {
        label += ' (default)';
      }
      if (!model.available) {
        label += ` — unavailable: ${model.reason ?? 'not configured'}`;
      }
      return h('option', { value: model.id, disabled: !model.available, selected: model.id === body.default_model }, label);
    }),
  );
  const unavailable = state.models.filter((model) => !model.available);
  el.unavailable.replaceChildren(
    ...unavailable.map((model) =>
      h('li', { dataset: { model: model.id } }, h('strong', {}, model.name), ` is unavailable: ${model.reason ?? 'not configured'}`),
    ),
  );
  el.unavailable.hidden = unavailable.length === 0;
  renderModelHint();
}

function renderModelHint() {
  const model = state.models.find((candidate) => candidate.id === el.model.value);
  el.modelHint.textContent =
    model?.kind === 'offline' ? 'Writes skipped test scaffolds from the parse, without a model.' : '';
}

// ------------------------------------------------------------------------------------------------
// The source: typing, files.

function showEditorStats(text) {
  const bytes = utf8Length(text);
  const lines = text === '' ? 0 : text.split('\n').length;
  el.editorStats.textContent = text === '' ? '' : `${formatCount(lines)} lines, ${formatBytes(bytes)}.`;
  el.editorStats.classList.toggle('over-limit', bytes > MAX_SOURCE_BYTES);
}

function tooLarge(name, bytes) {
  return {
    title: 'The file is too large.',
    message: `${name} is ${formatBytes(bytes)} (${formatCount(bytes)} bytes); the limit is ${formatBytes(MAX_SOURCE_BYTES)} (${formatCount(MAX_SOURCE_BYTES)} bytes). Nothing was sent.`,
    code: 'source_too_large',
    status: 413,
  };
}

async function openFile(file) {
  if (!file) {
    return;
  }
  if (file.size > MAX_SOURCE_BYTES) {
    showProblem(tooLarge(file.name, file.size));
    return;
  }
  if (file.size === 0) {
    showProblem({ title: 'The file is empty.', message: `${file.name} has nothing in it to test.`, code: 'empty_source' });
    return;
  }
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await file.arrayBuffer());
  } catch {
    showProblem({ title: 'The file is not text.', message: `${file.name} is not UTF-8 text; open a source file.`, code: 'not_utf8' });
    return;
  }
  if (text.includes('\u0000')) {
    showProblem({ title: 'The file is not text.', message: `${file.name} holds binary data; open a source file.`, code: 'binary_source' });
    return;
  }
  clearProblem();
  editor.value = text;
  el.fileName.value = file.name;
  state.languageChosen = false;
  onFileNameChanged();
  editor.focus();
}

function wireFiles() {
  el.fileInput.addEventListener('change', () => {
    const [file] = el.fileInput.files ?? [];
    openFile(file).finally(() => {
      el.fileInput.value = '';
    });
  });
  let depth = 0;
  el.dropZone.addEventListener('dragenter', (event) => {
    if (!event.dataTransfer?.types.includes('Files')) {
      return;
    }
    event.preventDefault();
    depth += 1;
    el.dropZone.classList.add('dragging');
  });
  el.dropZone.addEventListener('dragover', (event) => {
    if (event.dataTransfer?.types.includes('Files')) {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    }
  });
  el.dropZone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) {
      el.dropZone.classList.remove('dragging');
    }
  });
  el.dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    el.dropZone.classList.remove('dragging');
    openFile(event.dataTransfer?.files?.[0]);
  });
  // A file dropped beside the editor must not replace the page.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
}

// ------------------------------------------------------------------------------------------------
// A task's run: status, progress, units, events, result.

function separator(language) {
  return language === 'cpp' || language === 'rust' ? '::' : '.';
}

function newRun(id, language, source = null) {
  hideBatch();
  state.run?.stream?.close();
  const run = { id, language, source, units: [], status: 'queued', stream: null, done: false, result: null, validation: null };
  state.run = run;
  el.status.dataset.taskId = id;
  el.units.replaceChildren();
  el.unitsEmpty.hidden = false;
  el.events.replaceChildren();
  setProgress(0, 0, 0);
  resultView.clear();
  el.resultName.textContent = 'The tests appear here as they are written.';
  el.resultNote.textContent = '';
  setResultReady(null);
  clearValidation();
  return run;
}

const STATUS_TEXT = {
  queued: 'Queued.',
  running: 'Running.',
  cancelling: 'Cancelling…',
  succeeded: 'Succeeded.',
  failed: 'Failed.',
  cancelled: 'Cancelled.',
};

function setStatus(run, status, text = STATUS_TEXT[status] ?? status) {
  // Not another task's, and once over, never back to an unfinished state by a late answer.
  if (state.run !== run || (run.done && !FINISHED.has(status))) {
    return;
  }
  run.status = status;
  el.status.dataset.status = status;
  el.status.textContent = text;
  const active = !FINISHED.has(status);
  el.cancel.hidden = !active;
  el.cancel.disabled = status === 'cancelling';
  scheduleQueue();
}

function setProgress(percent, completed, total) {
  el.progress.value = percent;
  el.progressLabel.textContent = total > 0 ? `${percent} % · ${completed} of ${total} units` : `${percent} %`;
}

function log(name, text) {
  const time = new Date();
  const item = h(
    'li',
    { dataset: { event: name } },
    h('time', { datetime: time.toISOString() }, time.toLocaleTimeString('en-GB')),
    ' ',
    h('span', { class: 'event-name' }, name.replace('_', ' ')),
    ' ',
    h('span', { class: 'event-text' }, text),
  );
  const scroller = el.eventsLog;
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 24;
  el.events.append(item);
  while (el.events.childElementCount > LOG_LIMIT) {
    el.events.firstElementChild?.remove();
  }
  if (atBottom) {
    scroller.scrollTop = scroller.scrollHeight;
  }
}

const UNIT_STATE_TEXT = {
  pending: 'waiting',
  generating: 'writing tests…',
  validating: 'validating',
  done: 'tests written',
  dropped: 'left out',
  stopped: 'stopped',
};

function unitStateText(unit) {
  if (unit.verdict) {
    return unit.kept ? 'kept' : 'left out';
  }
  if (unit.state === 'validating') {
    return `validating (round ${unit.round ?? 1})`;
  }
  return UNIT_STATE_TEXT[unit.state] + (unit.note ? `: ${unit.note}` : '');
}

/** What the runner found for a unit: its badge, a few facts, and the reason behind a disclosure. */
function unitVerdict(unit) {
  if (!unit.verdict) {
    return null;
  }
  const facts = [];
  if (unit.addedLines > 0) {
    facts.push(`+${unit.addedLines} ${unit.addedLines === 1 ? 'line' : 'lines'}`);
  }
  if (unit.addedBranches > 0) {
    facts.push(`+${unit.addedBranches} ${unit.addedBranches === 1 ? 'branch' : 'branches'}`);
  }
  if (unit.rounds > 1) {
    facts.push(`${unit.rounds} rounds`);
  }
  if (unit.verdict === 'flaky' && typeof unit.reruns === 'number' && unit.reruns > 0) {
    facts.push(`passed ${(unit.rerunPasses ?? 0) + 1} of ${unit.reruns + 1} runs`);
  }
  if (unit.hasAssertion === false) {
    facts.push('asserts nothing');
  }
  return h(
    'div',
    { class: 'unit-verdict' },
    verdictBadge(unit.verdict, unit.reason),
    facts.length > 0 ? h('span', { class: 'unit-facts' }, facts.join(' · ')) : null,
    unit.reason
      ? h(
          'details',
          {
            class: 'unit-reason',
            open: unit.reasonOpen === true,
            // Re-rendering the list must not close a reason the user opened.
            ontoggle: (event) => {
              unit.reasonOpen = event.currentTarget.open;
            },
          },
          h('summary', {}, 'Why', h('span', { class: 'visually-hidden' }, ` ${unit.key}: ${verdictLabel(unit.verdict)}`)),
          h('pre', { class: 'reason-text' }, unit.reason),
        )
      : null,
  );
}

function renderUnits(run) {
  if (state.run !== run) {
    return;
  }
  el.unitsEmpty.hidden = run.units.length > 0;
  el.units.replaceChildren(
    ...run.units.map((unit) =>
      h(
        'li',
        {
          dataset: unit.verdict
            ? { state: unit.state, unit: unit.key, verdict: unit.verdict, kept: String(unit.kept) }
            : { state: unit.state, unit: unit.key },
          title: unit.verdict ? undefined : unit.note ?? undefined,
        },
        h('span', { class: 'unit-marker', 'aria-hidden': 'true' }),
        h('span', { class: 'unit-name' }, unit.key),
        h('span', { class: 'unit-kind' }, `${unit.kind}${unit.line ? `, line ${unit.line}` : ''}`),
        h('span', { class: 'unit-state' }, unitStateText(unit)),
        unitVerdict(unit),
      ),
    ),
  );
}

/** A unit's test report (`validation.tests[]`, or a `test_result` event) onto the unit. */
function applyReport(unit, report) {
  unit.verdict = report.verdict;
  unit.kept = report.kept === true;
  unit.reason = report.reason ?? null;
  unit.addedLines = Array.isArray(report.added_lines) ? report.added_lines.length : Number(report.added_lines) || 0;
  if (typeof report.added_branches === 'number') {
    unit.addedBranches = report.added_branches;
  }
  for (const [from, to] of [['rounds', 'rounds'], ['reruns', 'reruns'], ['rerun_passes', 'rerunPasses']]) {
    if (typeof report[from] === 'number') {
      unit[to] = report[from];
    }
  }
  if (typeof report.has_assertion === 'boolean') {
    unit.hasAssertion = report.has_assertion;
  }
}

function unitKey(run, unit) {
  if (!unit.container) {
    return unit.name;
  }
  // A result's units are named already qualified (`Stock.__init__`); a parse's are not.
  const prefix = `${unit.container}${separator(run.language)}`;
  return unit.name.startsWith(prefix) ? unit.name : `${prefix}${unit.name}`;
}

/** The unit an event names: the first in `states` with that name, else any with it, else new. */
function findUnit(run, name, states) {
  let unit = run.units.find((candidate) => candidate.key === name && states.includes(candidate.state));
  unit ??= run.units.find((candidate) => candidate.key === name);
  if (!unit) {
    unit = { key: name, kind: 'unit', line: null, state: 'pending', code: null };
    run.units.push(unit);
  }
  return unit;
}

function showPreview(run) {
  const written = run.units.filter((unit) => unit.state === 'done' && unit.code);
  if (written.length === 0 || run.result) {
    return;
  }
  resultView.show(written.map((unit) => unit.code.trimEnd()).join('\n\n'), run.language);
  el.resultName.textContent = `Preview: the tests of ${written.length} of ${run.units.length} units so far.`;
}

function onEvent(run, name, data) {
  if (state.run !== run) {
    return;
  }
  // A cancelled or failed task keeps the bar where it stood.
  if (typeof data.progress === 'number' && name !== 'cancelled' && name !== 'error') {
    setProgress(data.progress, data.completed ?? 0, data.total ?? 0);
  }
  switch (name) {
    case 'started':
      setStatus(run, 'running', data.attempt > 1 ? `Running (attempt ${data.attempt}).` : 'Running.');
      log(name, `A worker took the task${data.attempt > 1 ? ` (attempt ${data.attempt})` : ''}.`);
      break;
    case 'parsing_completed':
      run.units = (data.units ?? []).map((unit) => ({
        key: unitKey(run, unit),
        kind: unit.kind,
        line: unit.line,
        state: 'pending',
        code: null,
      }));
      renderUnits(run);
      log(name, `${run.units.length} ${run.units.length === 1 ? 'unit' : 'units'} found.`);
      break;
    case 'generating': {
      const unit = findUnit(run, data.unit, ['pending']);
      unit.state = 'generating';
      renderUnits(run);
      log(name, `Writing tests for ${data.unit}.`);
      break;
    }
    case 'validating': {
      // The last run is the assembled file's, named by its file name rather than a unit's.
      const unit = run.units.find((candidate) => candidate.key === data.unit);
      if (unit) {
        unit.state = 'validating';
        unit.round = data.round;
        renderUnits(run);
        log(name, `Running the tests of ${data.unit}${data.round > 1 ? ` (round ${data.round}, after feedback)` : ''}.`);
      } else if (data.round === 0) {
        log(name, `Running the code of ${data.unit} to find calls whose results the tests can pin.`);
      } else {
        log(name, `Running ${data.unit} as a whole.`);
      }
      break;
    }
    case 'test_result': {
      const unit = findUnit(run, data.unit, ['done', 'validating', 'dropped']);
      applyReport(unit, data);
      if (!data.kept && unit.state === 'done') {
        unit.state = 'dropped';
      }
      renderUnits(run);
      const added = data.added_lines > 0 ? `, ${data.added_lines} new ${data.added_lines === 1 ? 'line' : 'lines'}` : '';
      const reason = data.reason ? `: ${String(data.reason).split('\n')[0]}` : '';
      log(name, `${data.unit}: ${verdictLabel(data.verdict)}, ${data.kept ? 'kept' : 'left out'}${added}${reason}`);
      break;
    }
    case 'coverage': {
      run.validation = { status: data.status, reason: data.reason, coverage: data.coverage };
      showValidation(run, run.validation, run.source);
      const { label, text } = describeStatus(run.validation);
      const figures = data.coverage ? ` Lines: ${coverageFigures(data.coverage).lines}.` : '';
      log(name, `${label}. ${text}${figures}`);
      break;
    }
    case 'result': {
      const unit = findUnit(run, data.unit, ['validating', 'generating', 'pending']);
      unit.state = 'done';
      unit.code = data.code;
      renderUnits(run);
      showPreview(run);
      log(name, `Tests for ${data.unit} written.`);
      break;
    }
    case 'warning':
      if (data.unit) {
        const unit = findUnit(run, data.unit, ['validating', 'generating', 'pending']);
        unit.state = 'dropped';
        unit.note = data.message;
        renderUnits(run);
      }
      log(name, data.message ?? 'A unit was left out.');
      break;
    case 'error':
      setStatus(run, 'failed', `Failed: ${sentence(data.message ?? data.code)}`);
      log(name, `${data.code}: ${data.message}`);
      showProblem({ title: 'Generation failed.', message: sentence(data.message ?? ''), code: data.code });
      finish(run);
      break;
    case 'completed':
      setStatus(run, 'succeeded', `Succeeded: ${data.tests} ${data.tests === 1 ? 'unit' : 'units'} tested.`);
      log(name, `${data.file_name} is ready with the tests of ${data.tests} ${data.tests === 1 ? 'unit' : 'units'}.`);
      loadResult(run);
      finish(run);
      break;
    case 'cancelled':
      stopUnits(run);
      setStatus(run, 'cancelled', 'Cancelled.');
      log(name, sentence(data.reason ?? 'Cancelled.'));
      finish(run);
      break;
    case 'heartbeat':
      run.heardAt = Date.now();
      break;
    default:
      log(name, '');
  }
}

function stopUnits(run) {
  for (const unit of run.units) {
    if (unit.state === 'pending' || unit.state === 'generating' || unit.state === 'validating') {
      unit.state = 'stopped';
    }
  }
  renderUnits(run);
}

function finish(run) {
  run.done = true;
  run.stream?.close();
  refreshHistory();
  refreshQueue();
}

async function loadResult(run) {
  try {
    const { body } = await api.task(run.id);
    applyTask(run, body);
  } catch (error) {
    showError(error);
  }
}

/** Shows a task as `GET /api/tasks/{id}` describes it. */
function applyTask(run, task) {
  if (state.run !== run) {
    return;
  }
  const { progress } = task;
  if (progress) {
    setProgress(progress.percent, progress.completed, progress.total);
  }
  if (run.units.length === 0 && Array.isArray(task.result?.units)) {
    run.units = task.result.units.map((unit) => ({
      key: unitKey(run, unit),
      kind: unit.kind,
      line: unit.start_line,
      state: 'done',
      code: unit.code,
    }));
    for (const warning of Array.isArray(task.warnings) ? task.warnings : []) {
      run.units.push({ key: warning.unit, kind: 'unit', line: null, state: 'dropped', note: warning.message });
    }
    renderUnits(run);
  }
  if (typeof task.source === 'string') {
    run.source = task.source;
  }
  if (task.validation && typeof task.validation === 'object') {
    run.validation = task.validation;
    for (const report of Array.isArray(task.validation.tests) ? task.validation.tests : []) {
      const unit = findUnit(run, report.unit, ['done', 'validating', 'dropped']);
      applyReport(unit, report);
      if (!unit.kept && unit.state === 'done') {
        unit.state = 'dropped';
      }
    }
    renderUnits(run);
    showValidation(run, task.validation, run.source);
  }
  switch (task.status) {
    case 'queued':
      setStatus(run, 'queued', task.position ? `Queued: position ${task.position}.` : 'Queued.');
      break;
    case 'running':
      setStatus(run, task.cancel_requested ? 'cancelling' : 'running');
      break;
    case 'succeeded': {
      const tested = Array.isArray(task.result?.units) ? task.result.units.length : 0;
      setStatus(
        run,
        'succeeded',
        (tested > 0
          ? `Succeeded: ${tested} ${tested === 1 ? 'unit' : 'units'} tested.`
          : task.cache_hit
            ? 'Succeeded (answered from the cache).'
            : 'Succeeded.') + validationSuffix(task.validation),
      );
      showResult(run, task);
      break;
    }
    case 'failed':
      setStatus(run, 'failed', `Failed: ${sentence(task.error?.message ?? 'the task failed')}`);
      el.resultNote.textContent = task.error ? `${task.error.code}: ${task.error.message}` : '';
      break;
    case 'cancelled':
      stopUnits(run);
      setStatus(run, 'cancelled');
      break;
    default:
      setStatus(run, task.status);
  }
  if (FINISHED.has(task.status)) {
    run.done = true;
  }
}

/** A few words after "Succeeded" so that tests that were not run never read as checked. */
function validationSuffix(validation) {
  switch (validation?.status) {
    case 'validated':
      return ' Validated.';
    case 'syntax_only':
      return ' Not run: syntax checked only.';
    case 'not_run':
      return ' Tests not run.';
    case 'failed':
      return ' The test file failed as a whole.';
    default:
      return '';
  }
}

function clearValidation() {
  el.validation.hidden = true;
  el.validationStatus.replaceChildren();
  delete el.validationStatus.dataset.status;
  el.validationSummary.textContent = '';
  el.coverageSummary.replaceChildren();
  el.coverageSummary.hidden = true;
  el.coverageSource.hidden = true;
  el.coverageView.replaceChildren();
  el.uncoveredList.textContent = '';
}

/** The validation section: status and reason, what became of the tests, coverage, the source. */
function showValidation(run, validation, source) {
  if (state.run !== run || !validation?.status) {
    return;
  }
  clearValidation();
  el.validation.hidden = false;
  const { label, text } = describeStatus(validation);
  el.validationStatus.dataset.status = validation.status;
  el.validationStatus.append(
    h('span', { class: 'badge validation-badge', dataset: { status: validation.status } }, label),
    ' ',
    h('span', { class: 'validation-text' }, text),
  );

  const judged = run.units.filter((unit) => unit.verdict);
  if (judged.length > 0) {
    const kept = judged.filter((unit) => unit.kept).length;
    const counts = new Map();
    for (const unit of judged) {
      counts.set(unit.verdict, (counts.get(unit.verdict) ?? 0) + 1);
    }
    const verdicts = [...counts].map(([verdict, count]) => `${count} ${verdictLabel(verdict)}`).join(', ');
    el.validationSummary.textContent = `Tests of ${kept} of ${judged.length} ${judged.length === 1 ? 'unit' : 'units'} kept (${verdicts}); see the units list for each.`;
  }

  const { coverage } = validation;
  if (!coverage) {
    return;
  }
  const figures = coverageFigures(coverage);
  const rows = [['Lines', figures.lines]];
  if (figures.branches) {
    rows.push(['Branches', figures.branches]);
  }
  el.coverageSummary.replaceChildren(
    ...rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', { dataset: { coverage: term.toLowerCase() } }, value)]),
  );
  el.coverageSummary.hidden = false;
  if (typeof source === 'string' && source !== '') {
    const uncovered = lineRanges(coverage.uncovered_lines ?? []);
    el.uncoveredList.textContent = uncovered ? `Lines not covered: ${uncovered}.` : 'Every executable line is covered.';
    el.coverageView.replaceChildren(...coverageLines(source, coverage));
    el.coverageSource.hidden = false;
  }
}

function showResult(run, task) {
  if (!task.result || typeof task.result.code !== 'string') {
    return;
  }
  run.result = task.result;
  resultView.show(task.result.code, task.language);
  el.resultName.textContent = task.result.file_name;
  const dropped = Array.isArray(task.warnings) ? task.warnings.length : 0;
  el.resultNote.textContent = dropped > 0 ? `${dropped} ${dropped === 1 ? 'unit was' : 'units were'} left out; see the units list.` : '';
  setResultReady(run);
}

function setResultReady(run) {
  if (run) {
    el.download.setAttribute('href', api.downloadUrl(run.id));
    // Empty: the file name comes from the answer's Content-Disposition (the conventional name).
    el.download.setAttribute('download', '');
    el.download.removeAttribute('aria-disabled');
    el.download.removeAttribute('role');
    el.copy.disabled = false;
  } else {
    el.download.removeAttribute('href');
    el.download.removeAttribute('download');
    el.download.setAttribute('aria-disabled', 'true');
    el.download.setAttribute('role', 'link');
    el.copy.disabled = true;
  }
}

function follow(run) {
  run.stream = followTask(api.eventsUrl(run.id), {
    onEvent: (name, data) => onEvent(run, name, data),
    onOpen: () => {
      if (run.reconnecting) {
        run.reconnecting = false;
        log('reconnected', 'The live feed is back.');
        setStatus(run, run.status);
      }
    },
    onInterrupted: () => {
      if (!run.reconnecting && state.run === run) {
        run.reconnecting = true;
        el.status.textContent = `${STATUS_TEXT[run.status] ?? run.status} The live feed was interrupted; reconnecting…`;
      }
    },
    onGap: async () => {
      const { body } = await api.task(run.id);
      applyTask(run, body);
      if (FINISHED.has(body.status)) {
        finish(run);
        return true;
      }
      return false;
    },
    onFatal: (error) => {
      showError(error);
      finish(run);
    },
  });
}

// ------------------------------------------------------------------------------------------------
// Generate and cancel.

function updateGenerate() {
  const waiting = waitingSeconds();
  el.generate.disabled = state.submitting || waiting > 0 || state.languages.length === 0;
  el.generate.textContent = state.submitting
    ? 'Sending…'
    : waiting > 0
      ? `Wait ${waiting} s`
      : 'Generate tests';
}

async function generate() {
  if (el.generate.disabled) {
    return;
  }
  const source = editor.value;
  if (source.trim() === '') {
    showProblem({ title: 'Nothing to test yet.', message: 'Paste code, open a file or drop one on the editor first.', code: 'empty_source' });
    editor.focus();
    return;
  }
  const bytes = utf8Length(source);
  if (bytes > MAX_SOURCE_BYTES) {
    showProblem(tooLarge('The source', bytes));
    return;
  }
  const model = state.models.find((candidate) => candidate.id === el.model.value);
  if (model && !model.available) {
    showProblem({ title: 'This model is unavailable.', message: sentence(model.reason ?? 'it is not configured'), code: 'model_unavailable' });
    return;
  }
  const task = {
    source,
    language: el.language.value,
    framework: el.framework.value,
    model: el.model.value,
    validate: el.validateRun.checked ? 'run' : 'syntax',
    keep: el.keepPassing.checked ? 'passing' : 'covering',
  };
  const fileName = el.fileName.value.trim();
  if (fileName) {
    task.filename = fileName;
  }
  clearProblem();
  state.submitting = true;
  updateGenerate();
  try {
    const { status, body } = await api.create(task);
    const run = newRun(body.id, task.language, source);
    if (status === 200) {
      log('cached', 'Answered at once: the same source, language, framework and model were done before.');
      applyTask(run, body);
      if (!FINISHED.has(body.status)) {
        follow(run);
      }
    } else {
      setStatus(run, 'queued', body.position ? `Queued: position ${body.position}.` : 'Queued.');
      log('queued', body.position ? `Queued at position ${body.position}.` : 'Queued.');
      follow(run);
    }
    refreshHistory();
    refreshQueue();
  } catch (error) {
    showError(error);
    if (error.code === 'daily_token_budget_spent') {
      refreshQueue();
    }
  } finally {
    state.submitting = false;
    updateGenerate();
  }
}

async function cancel(id) {
  const run = state.run?.id === id ? state.run : null;
  try {
    const { status, body } = await api.cancel(id);
    // The stream may have told the ending before this answer came: then it stands.
    if (run && !run.done) {
      if (status === 200) {
        applyTask(run, body);
        log('cancelled', 'Cancelled before a worker took it.');
        finish(run);
      } else {
        setStatus(run, 'cancelling');
        log('cancelling', 'The worker was asked to stop.');
      }
    }
  } catch (error) {
    showError(error);
  }
  refreshHistory();
}

// ------------------------------------------------------------------------------------------------
// History.

async function refreshHistory() {
  let body;
  try {
    ({ body } = await api.tasks(20));
  } catch (error) {
    if (error.status !== 429) {
      showError(error);
    }
    return;
  }
  const tasks = body.tasks ?? [];
  el.historyEmpty.hidden = tasks.length > 0;
  el.history.replaceChildren(
    ...tasks.map((task) => {
      const language = languageById(task.language)?.name ?? task.language;
      const actions = [
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Open ${task.file_name}`, onclick: () => reopen(task.id) }, 'Open'),
      ];
      if (!FINISHED.has(task.status)) {
        actions.push(
          h('button', { type: 'button', class: 'danger small', 'aria-label': `Cancel ${task.file_name}`, onclick: () => cancel(task.id) }, 'Cancel'),
        );
      }
      return h(
        'li',
        { dataset: { taskId: task.id, status: task.status } },
        h(
          'div',
          { class: 'history-main' },
          h('span', { class: 'history-name' }, task.file_name),
          h('span', { class: 'badge', dataset: { status: task.status } }, task.status),
        ),
        h(
          'div',
          { class: 'history-meta' },
          `${language} · ${task.framework} · ${task.model} · `,
          h('time', { datetime: task.created_at }, formatTime(task.created_at)),
        ),
        h('div', { class: 'history-actions' }, ...actions),
      );
    }),
  );
}

async function reopen(id) {
  let task;
  try {
    ({ body: task } = await api.task(id));
  } catch (error) {
    showError(error);
    return;
  }
  clearProblem();
  if (typeof task.source === 'string') {
    editor.value = task.source;
  }
  el.fileName.value = task.file_name;
  state.languageChosen = true;
  setLanguage(task.language, 'The language of this task.');
  if ([...el.framework.options].some((option) => option.value === task.framework)) {
    el.framework.value = task.framework;
  }
  if ([...el.model.options].some((option) => option.value === task.model)) {
    el.model.value = task.model;
    renderModelHint();
  }
  if (task.validate === 'run' || task.validate === 'syntax') {
    el.validateRun.checked = task.validate === 'run';
  }
  if (task.keep === 'passing' || task.keep === 'covering') {
    el.keepPassing.checked = task.keep === 'passing';
  }
  showChecks();
  const run = newRun(task.id, task.language, typeof task.source === 'string' ? task.source : null);
  log('opened', `Task of ${formatTime(task.created_at)} opened.`);
  applyTask(run, task);
  if (!FINISHED.has(task.status)) {
    follow(run);
  }
  byId('run-panel').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

// ------------------------------------------------------------------------------------------------
// Queue indicator.

async function refreshQueue() {
  try {
    const { body: queue } = await api.queue();
    const yours = queue.yours ?? {};
    let mine = '';
    if (yours.position) {
      mine = ` · you: position ${yours.position}`;
    } else if (yours.running) {
      mine = ` · you: ${yours.running} running`;
    }
    el.queueText.textContent = `Queue: ${queue.queued} waiting · ${queue.running} of ${queue.capacity} running${mine}`;
    el.queue.dataset.state = queue.running >= queue.capacity ? 'busy' : 'ok';
    showTokens(yours);
  } catch (error) {
    el.queueText.textContent = error.status === 429 ? 'Queue: paused (too many requests)' : 'Queue: unavailable';
    el.queue.dataset.state = 'error';
  }
}

/** This session's tokens of today against its daily budget, when an admin set one. */
function showTokens(yours) {
  const budget = yours.daily_token_budget;
  if (budget === undefined || budget === null) {
    el.queueTokens.hidden = true;
    el.queueTokens.textContent = '';
    delete el.queueTokens.dataset.spent;
    return;
  }
  const spent = yours.tokens_today ?? 0;
  el.queueTokens.textContent = `· tokens today: ${formatCount(spent)} of ${formatCount(budget)}`;
  el.queueTokens.dataset.spent = String(spent >= budget);
  el.queueTokens.hidden = false;
}

function scheduleQueue() {
  clearTimeout(state.queueTimer);
  const active = state.run && !state.run.done;
  state.queueTimer = setTimeout(async () => {
    if (!document.hidden) {
      await refreshQueue();
    }
    scheduleQueue();
  }, active ? QUEUE_EVERY_ACTIVE_MS : QUEUE_EVERY_MS);
}

// ------------------------------------------------------------------------------------------------
// Start.

async function copyResult() {
  const text = resultView.text;
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    // No clipboard API (a plain-HTTP page on another host): select and copy the old way.
    const scratch = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true', tabindex: '-1' });
    scratch.value = text;
    document.body.append(scratch);
    scratch.select();
    copied = document.execCommand('copy');
    scratch.remove();
  }
  el.resultNote.textContent = copied ? 'Copied to the clipboard.' : 'Copying failed: select the text and copy it.';
}

/** Keeping tests by coverage means nothing when the tests are not run. */
function showChecks() {
  el.keepPassing.disabled = !el.validateRun.checked;
}

function wire() {
  el.fileName.addEventListener('input', onFileNameChanged);
  el.validateRun.addEventListener('change', showChecks);
  el.language.addEventListener('change', () => {
    state.languageChosen = true;
    renderFrameworks();
    el.languageHint.textContent = 'Chosen by you.';
  });
  el.model.addEventListener('change', renderModelHint);
  el.generate.addEventListener('click', generate);
  el.cancel.addEventListener('click', () => state.run && cancel(state.run.id));
  el.copy.addEventListener('click', copyResult);
  el.download.addEventListener('click', (event) => {
    if (!el.download.hasAttribute('href')) {
      event.preventDefault();
    }
  });
  byId('history-refresh').addEventListener('click', refreshHistory);
  byId('error-dismiss').addEventListener('click', clearProblem);
  wireThemeButton(el.theme);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !repositoryTabShown()) {
      event.preventDefault();
      generate();
    }
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      refreshQueue();
    }
  });
  wireFiles();
  wireRepository({
    showError,
    showProblem,
    clearProblem,
    choice: () => ({ model: el.model.value, language: el.language.value, framework: el.framework.value }),
  });
}

async function start() {
  wire();
  showChecks();
  byId('max-size').textContent = formatBytes(MAX_SOURCE_BYTES);
  updateGenerate();
  try {
    const [languages, models] = await Promise.all([api.languages(), api.models()]);
    state.languages = languages.body.details;
    renderLanguages();
    renderModels(models.body);
  } catch (error) {
    showError(error);
  }
  updateGenerate();
  // The task list comes first and alone: on a first visit it is the answer that sets the session
  // cookie, which the queue request after it then carries.
  await refreshHistory();
  await refreshQueue();
  scheduleQueue();
  document.body.dataset.ready = 'true';
}

start();
