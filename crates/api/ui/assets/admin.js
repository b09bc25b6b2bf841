// The admin page: the administrator's login, the model registry (list, add, edit, disable and
// enable, delete, the default, a test through a worker), the limits changed at runtime and the
// daily token budgets, the tokens spent per model and day, and the audit log. Everything goes through
// the admin API of the same origin: the session is the `aiut_admin` cookie (HttpOnly, so never seen
// here), and every write carries the session's CSRF token in `X-CSRF-Token`. A 401 from any call
// returns to the login form. No API key is ever read back: the API says only whether one is set.

import { ApiError, request } from './api.js';
import { wireThemeButton } from './theme-button.js';
import { byId, formatCount, formatTime, h } from './util.js';

const AUDIT_LIMIT = 50;

const el = {
  status: byId('status'),
  who: byId('who'),
  logout: byId('logout'),
  main: byId('admin-main'),
  loginPanel: byId('login-panel'),
  loginForm: byId('login-form'),
  loginAccount: byId('login-account'),
  loginPassword: byId('login-password'),
  loginError: byId('login-error'),
  loginSubmit: byId('login-submit'),
  panels: byId('admin-panels'),
  keysNote: byId('keys-note'),
  modelsBody: byId('models-body'),
  modelResult: byId('model-result'),
  formPanel: byId('model-form-panel'),
  formHeading: byId('model-form-heading'),
  form: byId('model-form'),
  formError: byId('model-form-error'),
  save: byId('model-save'),
  id: byId('model-id'),
  displayName: byId('model-display-name'),
  baseUrl: byId('model-base-url'),
  model: byId('model-model'),
  key: byId('model-key'),
  keyHelp: byId('model-key-help'),
  clearKeyField: byId('clear-key-field'),
  clearKey: byId('model-clear-key'),
  temperature: byId('model-temperature'),
  maxTokens: byId('model-max-tokens'),
  timeout: byId('model-timeout'),
  concurrency: byId('model-concurrency'),
  fallback: byId('model-fallback'),
  auditBody: byId('audit-body'),
  limitsForm: byId('limits-form'),
  limitsBody: byId('limits-body'),
  limitsUpdated: byId('limits-updated'),
  limitsError: byId('limits-error'),
  limitsSave: byId('limits-save'),
  limitsResult: byId('limits-result'),
  usageDays: byId('usage-days'),
  usageRange: byId('usage-range'),
  usageEmpty: byId('usage-empty'),
  usageTables: byId('usage-tables'),
  usageBody: byId('usage-body'),
  usageTotalsBody: byId('usage-totals-body'),
};

/** The limits an admin may override, in the API's names; a budget has no configured value. */
const LIMITS = [
  { name: 'max_queued_per_session', label: 'Queued tasks per session' },
  { name: 'max_queued_per_client', label: 'Queued tasks per client address' },
  { name: 'max_running_per_session', label: 'Running tasks per session' },
  { name: 'max_queue_depth', label: 'Queued tasks in all' },
  { name: 'daily_tokens_per_session', label: 'Daily tokens per session', budget: true },
  { name: 'daily_tokens_per_client', label: 'Daily tokens per client address', budget: true },
];

/** The form's inputs by the API's field names, for showing a refusal next to its field. */
const FIELDS = {
  id: el.id,
  display_name: el.displayName,
  base_url: el.baseUrl,
  model: el.model,
  api_key: el.key,
  clear_api_key: el.clearKey,
  temperature: el.temperature,
  max_tokens: el.maxTokens,
  timeout_secs: el.timeout,
  max_concurrency: el.concurrency,
  fallback: el.fallback,
};

const KEY_HELP_NEW = 'Stored encrypted and never shown again. Leave empty for an endpoint without keys.';
const KEY_HELP_EDIT = 'Stored encrypted and never shown. Leave empty to keep the stored key unchanged.';

/** After an action on a model, the button of the new table that takes the focus. */
const FOCUS_AFTER = { disable: 'enable', enable: 'disable', default: 'test', delete: null };

const state = {
  session: null,
  models: [],
  /** The model being edited; null while adding one. */
  editing: null,
  /** The limits as the API last gave them. */
  limits: null,
};

// ------------------------------------------------------------------------------------------------
// Talking to the API.

/** Thrown after a 401 has sent the page back to the login form. */
class LoggedOut extends Error {}

/**
 * One admin request. Writes carry the CSRF token. A 401 (no session, or it ended) shows the login
 * form with the API's message and throws `LoggedOut`; other errors are thrown as `ApiError`.
 */
async function call(method, path, json) {
  const headers = {};
  if (method !== 'GET' && state.session) {
    headers['X-CSRF-Token'] = state.session.csrf_token;
  }
  try {
    return await request(method, path, { json, headers });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin(`Your admin session has ended (${error.message}). Log in again.`);
      throw new LoggedOut();
    }
    throw error;
  }
}

function sentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) {
    return '';
  }
  const first = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** A refusal as a sentence, with its status and code. */
function describe(error) {
  if (!(error instanceof ApiError)) {
    return sentence(error?.message ?? error);
  }
  // The API's message says what to do, the lockout's wait included.
  return `${sentence(error.message)} (${error.status} ${error.code})`;
}

function announce(text) {
  el.status.textContent = text;
}

/** Reports an unexpected failure of a background call without losing the page. */
function reportFailure(error) {
  if (error instanceof LoggedOut) {
    return;
  }
  if (!(error instanceof ApiError)) {
    console.error(error);
  }
  announce(describe(error));
}

// ------------------------------------------------------------------------------------------------
// Login and session.

function showLogin(message = '') {
  state.session = null;
  state.models = [];
  el.panels.hidden = true;
  el.who.hidden = true;
  el.logout.hidden = true;
  el.loginPanel.hidden = false;
  el.modelsBody.replaceChildren();
  el.auditBody.replaceChildren();
  el.modelResult.replaceChildren();
  state.limits = null;
  el.limitsBody.replaceChildren();
  el.limitsUpdated.textContent = '';
  el.limitsResult.replaceChildren();
  setLimitsError('');
  el.usageBody.replaceChildren();
  el.usageTotalsBody.replaceChildren();
  el.usageRange.textContent = '';
  closeForm();
  setLoginError(message);
  document.body.dataset.view = 'login';
  el.loginPassword.focus();
}

function setLoginError(message) {
  el.loginError.textContent = message;
  el.loginError.hidden = !message;
  if (message) {
    el.loginPassword.setAttribute('aria-invalid', 'true');
  } else {
    el.loginPassword.removeAttribute('aria-invalid');
  }
}

function showSession(session) {
  state.session = session;
  el.who.replaceChildren(
    'Logged in as ',
    h('strong', { id: 'who-account' }, session.account),
    ' · session ends ',
    h('time', { id: 'session-ends', datetime: session.expires_at }, formatTime(session.expires_at)),
    `, or after ${Math.round(session.idle_timeout_secs / 60)} min without use`,
  );
  el.who.hidden = false;
  el.logout.hidden = false;
  el.loginPanel.hidden = true;
  el.panels.hidden = false;
  document.body.dataset.view = 'admin';
}

async function login(event) {
  event.preventDefault();
  const password = el.loginPassword.value;
  if (!password) {
    setLoginError('Give the admin password.');
    el.loginPassword.focus();
    return;
  }
  const body = { password };
  const account = el.loginAccount.value.trim();
  if (account) {
    body.account = account;
  }
  el.loginSubmit.disabled = true;
  setLoginError('');
  try {
    const { body: session } = await request('POST', '/api/admin/login', { json: body });
    el.loginPassword.value = '';
    showSession(session);
    announce(`Logged in as ${session.account}.`);
    await loadPanels();
    el.main.focus();
  } catch (error) {
    setLoginError(describe(error));
    el.loginPassword.select();
    el.loginPassword.focus();
  } finally {
    el.loginSubmit.disabled = false;
  }
}

async function logout() {
  try {
    await call('POST', '/api/admin/logout');
    showLogin();
    announce('Logged out.');
  } catch (error) {
    reportFailure(error);
  }
}

// ------------------------------------------------------------------------------------------------
// Models.

function yesNo(value) {
  return value ? 'yes' : 'no';
}

function actionButton(label, action, model, extra = {}) {
  return h(
    'button',
    {
      type: 'button',
      class: `small ${extra.class ?? 'secondary'}`,
      dataset: { action, model: model.id },
      'aria-label': `${label} ${model.id}`,
      onclick: () => act(action, model.id),
    },
    label,
  );
}

function renderModels(list) {
  state.models = list.models;
  el.keysNote.hidden = list.keys_configured;
  el.keysNote.textContent = list.keys_configured
    ? ''
    : 'No model key is configured (AIUT_MODEL_KEYS__CURRENT): models can be added, but without API keys.';
  el.modelsBody.replaceChildren(
    ...list.models.map((model) => {
      const actions = [actionButton('Test', 'test', model), actionButton('Edit', 'edit', model)];
      actions.push(
        model.enabled ? actionButton('Disable', 'disable', model) : actionButton('Enable', 'enable', model),
      );
      if (!model.default && model.enabled) {
        actions.push(actionButton('Make default', 'default', model));
      }
      if (!model.default) {
        actions.push(actionButton('Delete', 'delete', model, { class: 'danger' }));
      }
      return h(
        'tr',
        { dataset: { model: model.id, enabled: String(model.enabled), default: String(model.default) } },
        h('th', { scope: 'row' }, h('code', {}, model.id)),
        h('td', { class: 'wrap' }, model.display_name ?? ''),
        h('td', {}, model.kind),
        h('td', { class: 'wrap' }, model.base_url ?? ''),
        h('td', {}, model.model ?? ''),
        h('td', { dataset: { field: 'enabled' } }, yesNo(model.enabled)),
        h('td', { dataset: { field: 'default' } }, yesNo(model.default)),
        h(
          'td',
          { class: 'wrap', dataset: { field: 'key' } },
          model.key_set ? 'yes' : model.key_env ? `from ${model.key_env}` : 'no',
        ),
        h('td', { dataset: { field: 'origin' } }, model.origin ?? ''),
        h('td', {}, h('div', { class: 'row-actions' }, actions)),
      );
    }),
  );
}

async function refreshModels() {
  const { body } = await call('GET', '/api/admin/models');
  renderModels(body);
}

function showResult(tone, ...parts) {
  el.modelResult.dataset.tone = tone;
  el.modelResult.replaceChildren(h('p', {}, ...parts));
}

async function testModel(id) {
  showResult('neutral', `Testing ${id}…`);
  try {
    const { body } = await call('POST', `/api/admin/models/${encodeURIComponent(id)}/test`);
    const timing = body.elapsed_ms !== null && body.elapsed_ms !== undefined ? ` in ${body.elapsed_ms} ms` : '';
    const worker = body.worker ? ` (${body.worker})` : '';
    if (body.ok) {
      showResult('good', h('strong', {}, `${id} answered${timing}${worker}: `), h('q', { class: 'answer' }, body.answer ?? ''));
    } else {
      showResult('bad', h('strong', {}, `${id} did not answer${timing}${worker}: `), sentence(body.error ?? 'no reason given'));
    }
  } catch (error) {
    if (!(error instanceof LoggedOut)) {
      showResult('bad', h('strong', {}, `The test of ${id} could not run: `), describe(error));
    }
  }
}

async function act(action, id) {
  const model = state.models.find((candidate) => candidate.id === id);
  if (!model) {
    return;
  }
  if (action === 'test') {
    await testModel(id);
    return;
  }
  if (action === 'edit') {
    openForm(model);
    return;
  }
  const path = `/api/admin/models/${encodeURIComponent(id)}`;
  let done;
  try {
    if (action === 'disable' || action === 'enable') {
      await call('PATCH', path, { enabled: action === 'enable' });
      done = `${id} is ${action === 'enable' ? 'enabled' : 'disabled'}.`;
    } else if (action === 'default') {
      await call('PUT', '/api/admin/default-model', { model: id });
      done = `${id} is the default model.`;
    } else if (action === 'delete') {
      if (!window.confirm(`Delete the model ${id} and its stored key? This cannot be undone.`)) {
        return;
      }
      await call('DELETE', path);
      done = `${id} is deleted.`;
      if (state.editing?.id === id) {
        closeForm();
      }
    }
  } catch (error) {
    if (!(error instanceof LoggedOut)) {
      showResult('bad', describe(error));
    }
    return;
  }
  // The table first, then the message: what it says is on the page when it is read. The
  // button pressed is gone with the old table, so focus goes to its counterpart in the new one.
  await refreshAll();
  if (done) {
    showResult('good', done);
  }
  const next = FOCUS_AFTER[action];
  const target = next
    ? el.modelsBody.querySelector(`button[data-model="${CSS.escape(id)}"][data-action="${next}"]`)
    : null;
  (target ?? byId('model-new')).focus();
}

// ------------------------------------------------------------------------------------------------
// The add and edit form.

function setValue(input, value) {
  input.value = value === null || value === undefined ? '' : String(value);
}

function clearFieldErrors() {
  el.formError.hidden = true;
  el.formError.textContent = '';
  for (const input of Object.values(FIELDS)) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-errormessage');
  }
}

function openForm(model = null) {
  state.editing = model;
  el.form.reset();
  el.key.disabled = false;
  clearFieldErrors();
  el.formPanel.hidden = false;
  el.id.readOnly = Boolean(model);
  el.clearKeyField.hidden = !model?.key_set;
  el.keyHelp.textContent = model ? KEY_HELP_EDIT : KEY_HELP_NEW;
  if (model) {
    el.formHeading.textContent = `Edit ${model.id}`;
    el.save.textContent = 'Save the changes';
    setValue(el.id, model.id);
    setValue(el.displayName, model.display_name);
    setValue(el.baseUrl, model.base_url);
    setValue(el.model, model.model);
    // Stored as a 32-bit float: 0.2 comes back as 0.20000000298023224.
    setValue(el.temperature, Math.round(model.temperature * 1000) / 1000);
    setValue(el.maxTokens, model.max_tokens);
    setValue(el.timeout, model.timeout_secs);
    setValue(el.concurrency, model.max_concurrency);
    setValue(el.fallback, model.fallback.join(', '));
    el.displayName.focus();
  } else {
    el.formHeading.textContent = 'Add a model';
    el.save.textContent = 'Add the model';
    el.id.focus();
  }
  el.formPanel.scrollIntoView({ block: 'nearest' });
}

function closeForm() {
  state.editing = null;
  el.form.reset();
  el.key.disabled = false;
  clearFieldErrors();
  el.formPanel.hidden = true;
}

function number(input) {
  const text = input.value.trim();
  return text === '' ? undefined : Number(text);
}

/** The body of the add (`POST`) or the edit (`PATCH`): only what was given. */
function formBody() {
  const body = {};
  const text = (name, input) => {
    const value = input.value.trim();
    if (value !== '') {
      body[name] = value;
    } else if (state.editing && state.editing[name]) {
      // Emptied while editing: the API clears the field when given empty.
      body[name] = '';
    }
  };
  if (!state.editing) {
    body.id = el.id.value.trim();
  }
  text('display_name', el.displayName);
  const baseUrl = el.baseUrl.value.trim();
  if (baseUrl !== '') {
    body.base_url = baseUrl;
  }
  text('model', el.model);
  for (const [name, input] of [
    ['temperature', el.temperature],
    ['max_tokens', el.maxTokens],
    ['timeout_secs', el.timeout],
    ['max_concurrency', el.concurrency],
  ]) {
    const value = number(input);
    if (value !== undefined) {
      body[name] = value;
    }
  }
  const fallback = el.fallback.value
    .split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  if (fallback.length > 0 || state.editing) {
    body.fallback = fallback;
  }
  if (el.key.value !== '') {
    body.api_key = el.key.value;
  }
  if (state.editing && el.clearKey.checked) {
    body.clear_api_key = true;
  }
  return body;
}

/** Shows a refusal next to the form, and marks the field it names ("field `base_url`: …"). */
function showFormError(error) {
  el.formError.textContent = describe(error);
  el.formError.hidden = false;
  const named = error instanceof ApiError ? /field `([a-z_]+)`/.exec(error.message) : null;
  const input = named ? FIELDS[named[1]] : null;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-errormessage', 'model-form-error');
    input.focus();
  }
}

async function saveModel(event) {
  event.preventDefault();
  clearFieldErrors();
  const body = formBody();
  // The key is taken out of the field at once: it is never kept on the page.
  el.key.value = '';
  el.save.disabled = true;
  const editing = state.editing;
  try {
    if (editing) {
      await call('PATCH', `/api/admin/models/${encodeURIComponent(editing.id)}`, body);
    } else {
      await call('POST', '/api/admin/models', body);
    }
    closeForm();
    await refreshAll();
    showResult('good', editing ? `${editing.id} is saved.` : `${body.id} is added. Workers serve it within seconds.`);
    el.modelsBody.querySelector(`tr[data-model="${CSS.escape(editing?.id ?? body.id)}"] button`)?.focus();
  } catch (error) {
    if (!(error instanceof LoggedOut)) {
      showFormError(error);
    }
  } finally {
    el.save.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------------
// Limits.

function limitInput(name) {
  return document.getElementById(`limit-${name}`);
}

function limitLabel(name) {
  return LIMITS.find((limit) => limit.name === name)?.label ?? name;
}

/** A limit's value for the table: a budget that is absent is no budget. */
function limitValue(value) {
  return value === undefined || value === null ? 'none' : formatCount(value);
}

function setLimitsError(message) {
  el.limitsError.textContent = message;
  el.limitsError.hidden = !message;
}

function clearLimitErrors() {
  setLimitsError('');
  for (const { name } of LIMITS) {
    const input = limitInput(name);
    const error = document.getElementById(`limit-${name}-error`);
    input?.removeAttribute('aria-invalid');
    input?.removeAttribute('aria-errormessage');
    if (error) {
      error.textContent = '';
      error.hidden = true;
    }
  }
}

function showLimitsResult(tone, text) {
  el.limitsResult.dataset.tone = tone;
  el.limitsResult.replaceChildren(h('p', {}, text));
}

function renderLimits(limits) {
  state.limits = limits;
  el.limitsBody.replaceChildren(
    ...LIMITS.map(({ name, label, budget }) => {
      const override = limits.overrides[name];
      const overridden = override !== undefined && override !== null;
      const inputId = `limit-${name}`;
      const configured = limitValue(limits.configured[name]);
      return h(
        'tr',
        { dataset: { limit: name, overridden: String(overridden) } },
        h('th', { scope: 'row' }, h('label', { for: inputId }, label)),
        h('td', { dataset: { field: 'in_force' } }, limitValue(limits.in_force[name])),
        h('td', { dataset: { field: 'configured' } }, configured),
        h('td', { dataset: { field: 'overridden' } }, overridden ? 'yes' : 'no'),
        h(
          'td',
          {},
          h('input', {
            id: inputId,
            name,
            type: 'number',
            min: '1',
            step: '1',
            inputmode: 'numeric',
            autocomplete: 'off',
            class: 'limit-input',
            value: overridden ? String(override) : '',
            placeholder: budget ? 'no budget' : configured,
            'aria-describedby': `limit-${name}-error`,
          }),
          h('p', { id: `limit-${name}-error`, class: 'field-error', hidden: true }),
        ),
        h(
          'td',
          {},
          overridden
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'small secondary',
                  dataset: { clear: name },
                  'aria-label': `Use the configured value for ${label.toLowerCase()}`,
                  onclick: () => clearLimit(name),
                },
                'Use the configured value',
              )
            : '',
        ),
      );
    }),
  );
  el.limitsUpdated.replaceChildren(
    ...(limits.updated_by
      ? [
          'Last changed ',
          h('time', { id: 'limits-updated-at', datetime: limits.updated_at }, formatTime(limits.updated_at)),
          ' by ',
          h('strong', { id: 'limits-updated-by' }, limits.updated_by),
          '.',
        ]
      : ['No administrator has changed the limits yet.']),
  );
}

async function refreshLimits() {
  const { body } = await call('GET', '/api/admin/limits');
  renderLimits(body);
}

/**
 * The change to send: only the fields whose input differs from the override in force. An emptied
 * field clears its override (`null`); anything else is sent as typed, for the API to judge.
 * Returns `null` after marking a field that holds no number at all.
 */
function limitsChange() {
  const body = {};
  for (const { name, label } of LIMITS) {
    const input = limitInput(name);
    const current = state.limits.overrides[name];
    const overridden = current !== undefined && current !== null;
    if (input.validity.badInput) {
      markLimit(name, `${label}: give a whole number, or leave the field empty to use the configured value.`);
      return null;
    }
    const text = input.value.trim();
    if (text === '') {
      if (overridden) {
        body[name] = null;
      }
    } else if (!overridden || Number(text) !== current) {
      body[name] = Number(text);
    }
  }
  return body;
}

/** Shows a message at a limit's field and focuses it. */
function markLimit(name, message) {
  const input = limitInput(name);
  const error = document.getElementById(`limit-${name}-error`);
  error.textContent = message;
  error.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-errormessage', error.id);
  input.focus();
}

/** A refusal of a change: at the field the API names (e.g. "field `max_queue_depth`: …"), else under the table. */
function showLimitsRefusal(error) {
  const text = describe(error);
  const named =
    error instanceof ApiError
      ? LIMITS.map((limit) => limit.name)
          .filter((name) => error.message.includes(name))
          .sort((a, b) => b.length - a.length)[0]
      : undefined;
  if (named) {
    markLimit(named, text);
    el.limitsResult.replaceChildren();
  } else {
    setLimitsError(text);
  }
}

async function sendLimits(body) {
  const { body: limits } = await call('PATCH', '/api/admin/limits', body);
  renderLimits(limits);
  refreshAudit().catch(reportFailure);
}

function changedText(body) {
  return Object.entries(body)
    .map(([name, value]) => `${limitLabel(name).toLowerCase()} ${value === null ? 'follows the configuration' : `is ${formatCount(value)}`}`)
    .join('; ');
}

async function saveLimits(event) {
  event.preventDefault();
  if (!state.limits) {
    return;
  }
  clearLimitErrors();
  const body = limitsChange();
  if (body === null) {
    return;
  }
  if (Object.keys(body).length === 0) {
    showLimitsResult('neutral', 'Nothing to save: no limit was changed.');
    return;
  }
  el.limitsSave.disabled = true;
  try {
    await sendLimits(body);
    const text = changedText(body);
    showLimitsResult('good', `Saved: ${text[0].toUpperCase()}${text.slice(1)}.`);
  } catch (error) {
    if (!(error instanceof LoggedOut)) {
      showLimitsRefusal(error);
    }
  } finally {
    el.limitsSave.disabled = false;
  }
}

async function clearLimit(name) {
  clearLimitErrors();
  try {
    await sendLimits({ [name]: null });
    const label = limitLabel(name);
    const now = limitValue(state.limits.in_force[name]);
    showLimitsResult('good', `${label} follows the configuration again: ${now}.`);
    limitInput(name)?.focus();
  } catch (error) {
    if (!(error instanceof LoggedOut)) {
      showLimitsRefusal(error);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Usage.

/** "6 Dec 2026" for a day of the API (`2026-12-06`, UTC). */
function formatDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) {
    return day;
  }
  return date.toLocaleDateString('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' });
}

function usageCells(entry) {
  return [
    h('td', { class: 'number', dataset: { field: 'attempts' } }, formatCount(entry.attempts)),
    h('td', { class: 'number', dataset: { field: 'prompt_tokens' } }, formatCount(entry.prompt_tokens)),
    h('td', { class: 'number', dataset: { field: 'completion_tokens' } }, formatCount(entry.completion_tokens)),
    h('td', { class: 'number', dataset: { field: 'total_tokens' } }, formatCount(entry.prompt_tokens + entry.completion_tokens)),
  ];
}

function renderUsage(usage, days) {
  el.usageRange.replaceChildren(
    days === 1
      ? `Today, ${formatDay(usage.today)} (UTC).`
      : `From ${formatDay(usage.since)} to ${formatDay(usage.today)} (UTC).`,
  );
  const empty = usage.days.length === 0;
  el.usageEmpty.hidden = !empty;
  el.usageEmpty.textContent = empty
    ? `No model tokens were spent ${days === 1 ? 'today' : `in the last ${days} days`}.`
    : '';
  el.usageTables.hidden = empty;
  el.usageTotalsBody.replaceChildren(
    ...usage.totals.map((total) =>
      h('tr', { dataset: { model: total.model } }, h('th', { scope: 'row' }, h('code', {}, total.model)), ...usageCells(total)),
    ),
  );
  el.usageBody.replaceChildren(
    ...usage.days.map((entry) =>
      h(
        'tr',
        { dataset: { day: entry.day, model: entry.model, today: String(entry.day === usage.today) } },
        h('td', {}, h('time', { datetime: entry.day }, formatDay(entry.day)), entry.day === usage.today ? ' (today)' : ''),
        h('th', { scope: 'row' }, h('code', {}, entry.model)),
        ...usageCells(entry),
      ),
    ),
  );
}

async function refreshUsage() {
  const days = Number(el.usageDays.value);
  const { body } = await call('GET', `/api/admin/usage?days=${days}`);
  // A later choice may have been answered first: only the one still chosen is shown.
  if (Number(el.usageDays.value) === days) {
    renderUsage(body, days);
  }
}

// ------------------------------------------------------------------------------------------------
// Audit log.

function detailText(detail) {
  if (!detail || typeof detail !== 'object' || Object.keys(detail).length === 0) {
    return '';
  }
  return Object.entries(detail)
    .map(([name, value]) => `${name}: ${typeof value === 'object' ? JSON.stringify(value) : value}`)
    .join(', ');
}

async function refreshAudit() {
  const { body } = await call('GET', `/api/admin/audit?limit=${AUDIT_LIMIT}`);
  el.auditBody.replaceChildren(
    ...body.entries.map((entry) =>
      h(
        'tr',
        { dataset: { action: entry.action } },
        h('td', {}, h('time', { datetime: entry.at }, formatTime(entry.at))),
        h('td', {}, entry.account ?? ''),
        h('td', {}, entry.action),
        h('td', {}, entry.target ?? ''),
        h('td', {}, entry.client_address ?? ''),
        h('td', { class: 'wrap' }, detailText(entry.detail)),
      ),
    ),
  );
}

async function refreshAll() {
  try {
    await Promise.all([refreshModels(), refreshAudit(), refreshUsage()]);
  } catch (error) {
    reportFailure(error);
  }
}

/** After a login: everything, the limits' form included (other refreshes leave it as typed). */
async function loadPanels() {
  try {
    await Promise.all([refreshModels(), refreshAudit(), refreshUsage(), refreshLimits()]);
  } catch (error) {
    reportFailure(error);
  }
}

// ------------------------------------------------------------------------------------------------
// Start.

function wire() {
  wireThemeButton(byId('theme'));
  el.loginForm.addEventListener('submit', login);
  el.logout.addEventListener('click', logout);
  el.form.addEventListener('submit', saveModel);
  byId('model-cancel').addEventListener('click', () => {
    closeForm();
    byId('model-new').focus();
  });
  byId('model-new').addEventListener('click', () => openForm());
  byId('models-refresh').addEventListener('click', refreshAll);
  byId('audit-refresh').addEventListener('click', refreshAll);
  el.limitsForm.addEventListener('submit', saveLimits);
  byId('limits-refresh').addEventListener('click', async () => {
    clearLimitErrors();
    el.limitsResult.replaceChildren();
    await refreshLimits().catch(reportFailure);
  });
  el.usageDays.addEventListener('change', () => refreshUsage().catch(reportFailure));
  byId('usage-refresh').addEventListener('click', () => refreshUsage().catch(reportFailure));
  el.clearKey.addEventListener('change', () => {
    el.key.disabled = el.clearKey.checked;
    if (el.clearKey.checked) {
      el.key.value = '';
    }
  });
}

async function start() {
  wire();
  try {
    const { body } = await request('GET', '/api/admin/session');
    showSession(body);
    await loadPanels();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin();
    } else {
      // 503: no admin account is set up; the API's message says how to set one.
      showLogin(describe(error));
    }
  }
  document.body.dataset.ready = 'true';
}

start();
