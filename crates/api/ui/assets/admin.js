// The admin page: the administrator's login, the model registry (list, add, edit, disable and
// enable, delete, the default, a test through a worker) and the audit log. Everything goes through
// the admin API of the same origin: the session is the `aiut_admin` cookie (HttpOnly, so never seen
// here), and every write carries the session's CSRF token in `X-CSRF-Token`. A 401 from any call
// returns to the login form. No API key is ever read back: the API says only whether one is set.

import { ApiError, request } from './api.js';
import { wireThemeButton } from './theme-button.js';
import { byId, formatTime, h } from './util.js';

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
};

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
    await refreshAll();
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
    await Promise.all([refreshModels(), refreshAudit()]);
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
    await refreshAll();
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
