// The "From a repository" source and the batch view: the session's forge token, picking a
// repository, a branch and a folder, starting a batch, following it until every file is done,
// its archive and its pull request.

import { api } from './api.js';
import { byId, h, sleep } from './util.js';
import { coverageFigures, verdictLabel } from './validation.js';

const POLL_MS = 1000;
/** How many tree entries the picker lists; the path field takes any other. */
const TREE_LIMIT = 2000;
const FORGE_NAMES = { github: 'GitHub', gitlab: 'GitLab', git: 'git server' };

const el = {
  tabCode: byId('tab-code'),
  tabRepo: byId('tab-repo'),
  codeSource: byId('code-source'),
  repoSource: byId('repo-source'),
  generate: byId('generate'),
  batchStart: byId('batch-start'),
  forge: byId('git-forge'),
  baseUrl: byId('git-base-url'),
  token: byId('git-token'),
  save: byId('git-save'),
  connect: byId('git-connect'),
  connected: byId('git-connected'),
  login: byId('git-login'),
  forget: byId('git-forget'),
  browse: byId('git-browse'),
  repo: byId('git-repo'),
  repoMore: byId('git-repo-more'),
  repoTyped: byId('git-repo-typed'),
  branch: byId('git-branch'),
  branchTyped: byId('git-branch-typed'),
  path: byId('git-path'),
  treeBox: byId('git-tree-box'),
  tree: byId('git-tree'),
  treeNote: byId('git-tree-note'),
  languageOnly: byId('batch-language-only'),
  runPanel: byId('run-panel'),
  resultPanel: byId('result-panel'),
  panel: byId('batch-panel'),
  close: byId('batch-close'),
  where: byId('batch-where'),
  status: byId('batch-status'),
  files: byId('batch-files').querySelector('tbody'),
  skippedBox: byId('batch-skipped-box'),
  skipped: byId('batch-skipped'),
  archive: byId('batch-archive'),
  pr: byId('batch-pr'),
  prReplace: byId('batch-pr-replace'),
  prResult: byId('batch-pr-result'),
  historyBox: byId('batch-history-box'),
  history: byId('batch-history'),
};

/** `#batch=<id>`: the batch shown, so that a reload (or a shared link) shows it again. */
const BATCH_HASH = /^#batch=([0-9a-f-]{36})$/;

const state = {
  /** The page's hooks: `showError(error)`, `showProblem({...})`, `clearProblem()`, `choice()`. */
  page: null,
  /** The session's forge (`GET /api/git/token`), null when none; undefined until asked. */
  forge: undefined,
  repositories: [],
  nextRepoPage: null,
  /** Counts requests so that a late answer for an earlier choice is dropped. */
  branchesAsked: 0,
  treeAsked: 0,
  starting: false,
  /** The batch shown: `{id, view, stop: AbortController}`. */
  batch: null,
  prSending: false,
};

// ------------------------------------------------------------------------------------------------
// Tabs.

function selectTab(repo, { focus = false } = {}) {
  el.tabCode.setAttribute('aria-selected', String(!repo));
  el.tabRepo.setAttribute('aria-selected', String(repo));
  el.tabCode.tabIndex = repo ? -1 : 0;
  el.tabRepo.tabIndex = repo ? 0 : -1;
  el.codeSource.hidden = repo;
  el.repoSource.hidden = !repo;
  el.generate.hidden = repo;
  el.batchStart.hidden = !repo;
  if (focus) {
    (repo ? el.tabRepo : el.tabCode).focus();
  }
  if (repo && state.forge === undefined) {
    loadForge();
    loadHistory();
  }
}

// ------------------------------------------------------------------------------------------------
// The session's batches.

async function loadHistory() {
  try {
    const { body } = await api.batches();
    const batches = body.batches ?? [];
    el.historyBox.hidden = batches.length === 0;
    el.history.replaceChildren(
      ...batches.map((batch) => {
        const item = document.createElement('li');
        const open = document.createElement('button');
        open.type = 'button';
        open.className = 'ghost small';
        const where = batch.path ? `${batch.repo}/${batch.path}` : batch.repo;
        const when = new Date(batch.created_at).toLocaleString();
        open.textContent = `${where} · ${batch.branch} @ ${batch.commit.slice(0, 8)} · ${when}`;
        open.addEventListener('click', () => reopenBatch(batch.id));
        item.append(open);
        return item;
      }),
    );
  } catch (error) {
    state.page.showError(error);
  }
}

async function reopenBatch(id) {
  try {
    const { body } = await api.batch(id);
    showBatch(body);
  } catch (error) {
    if (error.status === 404 && location.hash) {
      history.replaceState(null, '', location.pathname + location.search);
    }
    state.page.showError(error);
  }
}

/** Whether the repository source is the one shown (then Ctrl+Enter starts nothing). */
export function repositoryTabShown() {
  return !el.repoSource.hidden;
}

function onTabKey(event) {
  if (['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(event.key)) {
    event.preventDefault();
    const repo = event.key === 'End' || (event.key !== 'Home' && event.currentTarget === el.tabCode);
    selectTab(repo, { focus: true });
  }
}

// ------------------------------------------------------------------------------------------------
// The forge token.

async function loadForge() {
  try {
    const { body } = await api.gitToken();
    showConnected(body);
  } catch (error) {
    if (error.status === 401 || error.code === 'git_token_required') {
      showConnected(null);
    } else {
      state.forge = undefined;
      state.page.showError(error);
    }
  }
}

function showConnected(forge) {
  state.forge = forge;
  el.connect.hidden = forge !== null;
  el.connected.hidden = forge === null;
  el.browse.hidden = forge === null;
  if (forge === null) {
    el.login.textContent = '';
    return;
  }
  const who = forge.login ? `connected as ${forge.login}` : `connected to ${forge.base_url}`;
  el.login.replaceChildren(
    h('span', { class: 'badge', dataset: { status: 'succeeded' } }, FORGE_NAMES[forge.forge] ?? forge.forge),
    ' ',
    who,
  );
  const browsable = forge.forge !== 'git';
  byId('git-repo-pick').hidden = !browsable;
  byId('git-branch-pick').hidden = !browsable;
  byId('git-repo-typed-label').textContent = browsable ? 'or type it' : 'Repository URL (the server\u2019s URL when empty)';
  byId('git-branch-typed-label').textContent = browsable ? 'or type it' : 'Branch (the default branch when empty)';
  el.repoTyped.placeholder = browsable ? 'owner/name' : forge.base_url;
  clearTree();
  el.repo.replaceChildren();
  el.branch.replaceChildren();
  state.repositories = [];
  state.nextRepoPage = null;
  el.repoMore.hidden = true;
  if (browsable) {
    loadRepositories(1);
  }
}

async function saveToken() {
  const token = el.token.value.trim();
  if (token === '') {
    state.page.showProblem({ title: 'No token yet.', message: 'Give an access token first.', code: 'empty_token' });
    el.token.focus();
    return;
  }
  const body = { forge: el.forge.value, token };
  const baseUrl = el.baseUrl.value.trim();
  if (baseUrl) {
    body.base_url = baseUrl;
  }
  el.save.disabled = true;
  try {
    const { body: forge } = await api.saveGitToken(body);
    // The token leaves the page: the server keeps it, sealed, for the session.
    el.token.value = '';
    state.page.clearProblem();
    showConnected(forge);
    el.forget.focus();
  } catch (error) {
    state.page.showError(error);
  } finally {
    el.save.disabled = false;
  }
}

async function forgetToken() {
  try {
    await api.forgetGitToken();
    showConnected(null);
    el.token.focus();
  } catch (error) {
    state.page.showError(error);
  }
}

// ------------------------------------------------------------------------------------------------
// Repository, branch and path.

async function loadRepositories(page) {
  el.repoMore.disabled = true;
  try {
    const { body } = await api.gitRepos(page);
    state.repositories.push(...(body.repositories ?? []));
    state.nextRepoPage = body.next_page ?? null;
    const chosen = el.repo.value;
    el.repo.replaceChildren(
      h('option', { value: '' }, state.repositories.length > 0 ? 'Choose a repository' : 'No repositories'),
      ...state.repositories.map((repository) =>
        h(
          'option',
          { value: repository.full_name, selected: repository.full_name === chosen },
          repository.private ? `${repository.full_name} (private)` : repository.full_name,
        ),
      ),
    );
    el.repoMore.hidden = state.nextRepoPage === null;
  } catch (error) {
    state.page.showError(error);
  } finally {
    el.repoMore.disabled = false;
  }
}

function chosenRepository() {
  return el.repoTyped.value.trim() || el.repo.value;
}

function chosenBranch() {
  return el.branchTyped.value.trim() || el.branch.value;
}

async function loadBranches() {
  const repo = chosenRepository();
  const asked = ++state.branchesAsked;
  el.branch.replaceChildren();
  clearTree();
  if (!repo || state.forge?.forge === 'git') {
    return;
  }
  let body;
  try {
    ({ body } = await api.gitBranches(repo));
  } catch (error) {
    if (asked === state.branchesAsked) {
      state.page.showError(error);
    }
    return;
  }
  if (asked !== state.branchesAsked) {
    return;
  }
  const branches = body.branches ?? [];
  const listed = state.repositories.find((repository) => repository.full_name === repo);
  const preferred = listed?.default_branch ?? null;
  const fallback = branches.some((branch) => branch.name === preferred) ? preferred : branches[0]?.name;
  el.branch.replaceChildren(
    ...branches.map((branch) =>
      h(
        'option',
        { value: branch.name, selected: branch.name === fallback, dataset: { commit: branch.commit } },
        branch.name === preferred ? `${branch.name} (default)` : branch.name,
      ),
    ),
  );
  loadTree();
}

function clearTree() {
  state.treeAsked += 1;
  el.tree.replaceChildren();
  el.treeNote.textContent = '';
  el.treeBox.hidden = true;
}

async function loadTree() {
  clearTree();
  const repo = chosenRepository();
  const option = el.branch.selectedOptions[0];
  const commit = option?.dataset.commit;
  if (!repo || !commit || el.branchTyped.value.trim()) {
    return;
  }
  const asked = state.treeAsked;
  let body;
  try {
    ({ body } = await api.gitTree(repo, commit));
  } catch (error) {
    if (asked === state.treeAsked) {
      state.page.showError(error);
    }
    return;
  }
  if (asked !== state.treeAsked) {
    return;
  }
  const entries = (body.entries ?? []).filter((entry) => isFolder(entry) || isFile(entry));
  const shown = entries.slice(0, TREE_LIMIT);
  el.tree.replaceChildren(
    treeItem({ path: '', kind: 'directory' }, 'The whole repository'),
    ...shown.map((entry) => treeItem(entry)),
  );
  const notes = [];
  if (entries.length > shown.length) {
    notes.push(`The first ${shown.length} of ${entries.length} entries are listed; type any other path.`);
  }
  if (body.truncated) {
    notes.push('The forge sent only part of this tree.');
  }
  el.treeNote.textContent = notes.join(' ');
  el.treeBox.hidden = false;
  markChosenPath();
}

function isFolder(entry) {
  return entry.kind === 'directory' || entry.kind === 'tree';
}

function isFile(entry) {
  return entry.kind === 'file' || entry.kind === 'blob';
}

function treeItem(entry, label) {
  const folder = isFolder(entry);
  const depth = entry.path === '' ? 0 : entry.path.split('/').length - 1;
  const name = label ?? `${entry.path.split('/').pop()}${folder ? '/' : ''}`;
  return h(
    'li',
    { dataset: { path: entry.path, kind: folder ? 'folder' : 'file', depth: String(Math.min(depth, 8)) } },
    h(
      'button',
      {
        type: 'button',
        class: 'tree-entry',
        'aria-pressed': 'false',
        'aria-label': entry.path === '' ? label : `${folder ? 'Folder' : 'File'} ${entry.path}`,
        onclick: () => {
          el.path.value = entry.path;
          markChosenPath();
        },
      },
      h('span', { class: 'tree-icon', 'aria-hidden': 'true' }, folder ? '▸' : '·'),
      name,
    ),
  );
}

function markChosenPath() {
  const chosen = el.path.value.trim().replace(/^\/+|\/+$/g, '');
  for (const item of el.tree.children) {
    item.querySelector('button')?.setAttribute('aria-pressed', String(item.dataset.path === chosen));
  }
  const item = chosen === '' ? null : el.tree.querySelector(`li[data-path="${CSS.escape(chosen)}"]`);
  el.batchStart.textContent = item?.dataset.kind === 'file' ? 'Write tests for this file' : 'Write tests for this folder';
}

// ------------------------------------------------------------------------------------------------
// Starting a batch.

async function startBatch() {
  if (state.starting) {
    return;
  }
  if (!state.forge) {
    state.page.showProblem({
      title: 'No forge connected.',
      message: 'Give an access token and connect first.',
      code: 'git_token_required',
    });
    (state.forge === null ? el.token : el.tabRepo).focus();
    return;
  }
  const repo = chosenRepository();
  if (!repo && state.forge.forge !== 'git') {
    state.page.showProblem({ title: 'No repository chosen.', message: 'Choose or type a repository.', code: 'empty_repository' });
    el.repo.focus();
    return;
  }
  const choice = state.page.choice();
  const body = { model: choice.model };
  if (repo) {
    body.repo = repo;
  }
  const branch = chosenBranch();
  if (branch) {
    body.branch = branch;
  }
  const path = el.path.value.trim().replace(/^\/+|\/+$/g, '');
  if (path) {
    body.path = path;
  }
  if (el.languageOnly.checked) {
    body.language = choice.language;
    body.framework = choice.framework;
  }
  state.starting = true;
  el.batchStart.disabled = true;
  const label = el.batchStart.textContent;
  el.batchStart.textContent = 'Reading the repository…';
  try {
    const { body: view } = await api.createBatch(body);
    state.page.clearProblem();
    showBatch(view);
    loadHistory();
  } catch (error) {
    state.page.showError(error);
  } finally {
    state.starting = false;
    el.batchStart.disabled = false;
    el.batchStart.textContent = label;
  }
}

// ------------------------------------------------------------------------------------------------
// The batch view.

function showBatch(view) {
  hideBatch();
  const batch = { id: view.id, view, stop: new AbortController() };
  state.batch = batch;
  history.replaceState(null, '', `${location.pathname}${location.search}#batch=${view.id}`);
  el.panel.dataset.batchId = view.id;
  el.runPanel.hidden = true;
  el.resultPanel.hidden = true;
  el.panel.hidden = false;
  el.prResult.hidden = true;
  el.prResult.replaceChildren();
  el.prReplace.hidden = true;
  renderBatch(batch);
  el.panel.scrollIntoView({ block: 'start', behavior: 'smooth' });
  if (view.status !== 'finished') {
    poll(batch);
  }
}

/** Back to the single-file panels; stops following the batch. */
export function hideBatch() {
  state.batch?.stop.abort();
  state.batch = null;
  if (BATCH_HASH.test(location.hash)) {
    history.replaceState(null, '', location.pathname + location.search);
  }
  el.panel.hidden = true;
  delete el.panel.dataset.batchId;
  el.runPanel.hidden = false;
  el.resultPanel.hidden = false;
}

async function poll(batch) {
  let shownError = false;
  while (!batch.stop.signal.aborted) {
    await sleep(POLL_MS, batch.stop.signal);
    if (batch.stop.signal.aborted) {
      return;
    }
    try {
      const { body } = await api.batch(batch.id);
      if (batch.stop.signal.aborted) {
        return;
      }
      batch.view = body;
      renderBatch(batch);
      if (body.status === 'finished') {
        return;
      }
    } catch (error) {
      // One banner for a run of failures; polling goes on, as the batch does.
      if (!shownError) {
        state.page.showError(error);
        shownError = true;
      }
      if (error.status === 404) {
        return;
      }
      await sleep(POLL_MS * 2, batch.stop.signal);
    }
  }
}

function renderBatch(batch) {
  const { view } = batch;
  const files = view.files ?? [];
  el.where.replaceChildren(
    h('strong', {}, view.repo),
    ' · branch ',
    h('code', {}, view.branch),
    ' · commit ',
    h('code', { title: view.commit }, String(view.commit).slice(0, 7)),
    view.path ? ' · ' : '',
    view.path ? h('code', {}, `${view.path}/`) : '',
  );
  const counts = view.counts ?? {};
  const done = (counts.succeeded ?? 0) + (counts.failed ?? 0) + (counts.cancelled ?? 0);
  el.status.dataset.status = view.status === 'finished' ? (counts.failed > 0 && !counts.succeeded ? 'failed' : 'succeeded') : 'running';
  el.status.dataset.batch = view.status;
  if (view.status === 'finished') {
    const parts = [`${counts.succeeded ?? 0} succeeded`];
    if (counts.failed) {
      parts.push(`${counts.failed} failed`);
    }
    if (counts.cancelled) {
      parts.push(`${counts.cancelled} cancelled`);
    }
    el.status.textContent = `Finished: ${files.length} ${files.length === 1 ? 'file' : 'files'}, ${parts.join(', ')}.`;
  } else {
    el.status.textContent = `${done} of ${files.length} ${files.length === 1 ? 'file' : 'files'} done · ${counts.running ?? 0} running · ${counts.queued ?? 0} queued.`;
  }
  el.files.replaceChildren(...files.map(fileRow));

  const skipped = view.skipped ?? [];
  el.skippedBox.hidden = skipped.length === 0;
  el.skipped.replaceChildren(
    ...skipped.map((file) => h('li', { dataset: { path: file.path } }, h('code', {}, file.path), ` — ${file.reason}`)),
  );

  const anySucceeded = (counts.succeeded ?? 0) > 0 || files.some((file) => file.status === 'succeeded');
  if (anySucceeded) {
    el.archive.href = api.batchArchiveUrl(view.id);
    el.archive.hidden = false;
  } else {
    el.archive.removeAttribute('href');
    el.archive.hidden = true;
  }
  if (view.pull_request) {
    showPullRequest(view.pull_request);
  } else {
    el.pr.hidden = view.status !== 'finished';
  }
}

function fileRow(file) {
  const tests = file.validation?.tests ?? [];
  const verdicts = new Map();
  for (const test of tests) {
    verdicts.set(test.verdict, (verdicts.get(test.verdict) ?? 0) + 1);
  }
  const kept = tests.filter((test) => test.kept).length;
  const verdictText =
    tests.length === 0
      ? '—'
      : `${[...verdicts].map(([verdict, count]) => `${count} ${verdictLabel(verdict)}`).join(', ')}; ${kept} kept`;
  const coverage = file.validation?.coverage;
  const progress =
    file.status === 'running' && file.progress_total > 0 ? ` ${file.progress_done} of ${file.progress_total}` : '';
  return h(
    'tr',
    { dataset: { path: file.path, status: file.status } },
    h('th', { scope: 'row' }, h('code', {}, file.path), h('span', { class: 'arrow', 'aria-hidden': 'true' }, ' → '), h('span', { class: 'visually-hidden' }, ' tested by '), h('code', {}, file.test_path)),
    h(
      'td',
      {},
      h('span', { class: 'badge', dataset: { status: file.status } }, file.status),
      progress ? h('span', { class: 'file-progress' }, progress) : null,
      file.error ? h('span', { class: 'file-error' }, ` ${file.error}`) : null,
    ),
    h('td', { class: 'verdicts' }, verdictText),
    h('td', { class: 'coverage' }, coverage ? coverageFigures(coverage).lines : '—'),
  );
}

// ------------------------------------------------------------------------------------------------
// The pull request.

async function openPullRequest(replaceExisting) {
  const batch = state.batch;
  if (!batch || state.prSending) {
    return;
  }
  state.prSending = true;
  el.pr.disabled = true;
  el.prReplace.disabled = true;
  const body = replaceExisting ? { replace_existing: true } : {};
  try {
    const { body: pull } = await api.pullRequest(batch.id, body);
    if (state.batch !== batch) {
      return;
    }
    state.page.clearProblem();
    batch.view.pull_request = pull;
    showPullRequest(pull);
  } catch (error) {
    state.page.showError(error);
    if (state.batch !== batch) {
      return;
    }
    if (error.code === 'git_conflict') {
      el.prReplace.hidden = false;
      el.prReplace.focus();
    } else if (error.code === 'pull_request_exists') {
      refreshBatch(batch);
    }
  } finally {
    state.prSending = false;
    el.pr.disabled = false;
    el.prReplace.disabled = false;
  }
}

async function refreshBatch(batch) {
  try {
    const { body } = await api.batch(batch.id);
    if (state.batch === batch) {
      batch.view = body;
      renderBatch(batch);
    }
  } catch (error) {
    state.page.showError(error);
  }
}

function showPullRequest(pull) {
  el.pr.hidden = true;
  el.prReplace.hidden = true;
  const count = Array.isArray(pull.files) ? pull.files.length : Number(pull.files) || 0;
  const what = `${count} test ${count === 1 ? 'file' : 'files'} on branch `;
  const replaced = pull.replaced?.length ? ` It replaced ${pull.replaced.join(', ')}.` : '';
  const children = pull.url
    ? [
        h('a', { id: 'batch-pr-link', href: pull.url, target: '_blank', rel: 'noopener noreferrer' },
          pull.number ? `Pull request #${pull.number}` : 'The pull request'),
        `: ${what}`,
        h('code', {}, pull.branch),
        `.${replaced}`,
      ]
    : [`Pushed ${what}`, h('code', {}, pull.branch), ` (commit ${String(pull.commit).slice(0, 7)}).${replaced}`];
  el.prResult.replaceChildren(...children);
  el.prResult.hidden = false;
}

// ------------------------------------------------------------------------------------------------

/**
 * Wires the repository source and the batch view. `page` gives the page's banner
 * (`showError`, `showProblem`, `clearProblem`) and `choice()`: the model, language and framework
 * picked in the shared pickers.
 */
export function wireRepository(page) {
  state.page = page;
  el.tabCode.addEventListener('click', () => selectTab(false));
  el.tabRepo.addEventListener('click', () => selectTab(true));
  el.tabCode.addEventListener('keydown', onTabKey);
  el.tabRepo.addEventListener('keydown', onTabKey);
  el.save.addEventListener('click', saveToken);
  el.token.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      saveToken();
    }
  });
  el.forget.addEventListener('click', forgetToken);
  el.repo.addEventListener('change', () => {
    el.repoTyped.value = '';
    loadBranches();
  });
  el.repoMore.addEventListener('click', () => state.nextRepoPage && loadRepositories(state.nextRepoPage));
  el.repoTyped.addEventListener('change', loadBranches);
  el.branch.addEventListener('change', () => {
    el.branchTyped.value = '';
    loadTree();
  });
  el.branchTyped.addEventListener('change', () => (el.branchTyped.value.trim() ? clearTree() : loadTree()));
  el.path.addEventListener('input', markChosenPath);
  el.batchStart.addEventListener('click', startBatch);
  el.close.addEventListener('click', () => {
    hideBatch();
    el.tabRepo.focus();
  });
  el.pr.addEventListener('click', () => openPullRequest(false));
  el.prReplace.addEventListener('click', () => openPullRequest(true));
  const shown = BATCH_HASH.exec(location.hash);
  if (shown) {
    selectTab(true);
    reopenBatch(shown[1]);
  }
}
