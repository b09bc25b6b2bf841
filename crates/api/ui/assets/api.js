// The JSON API, as the page uses it. Every failure becomes an `ApiError` carrying the status, the
// API's error code and message, and the `Retry-After` seconds when the answer gave them.

export class ApiError extends Error {
  constructor({ status = 0, code = 'network_error', message, retryAfter = null }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** Reads an error answer: the API's `{"error": {"code", "message"}}`, or whatever came instead. */
  static async from(response) {
    const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
    let code = `http_${response.status}`;
    let message = response.statusText || `the server answered ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error) {
        code = String(body.error.code || code);
        message = String(body.error.message || message);
      }
    } catch {
      // Not JSON (a proxy's page, an empty body): keep the status line.
    }
    return new ApiError({ status: response.status, code, message, retryAfter });
  }
}

/** `Retry-After` in seconds: a number of seconds or an HTTP date. */
export function parseRetryAfter(value) {
  if (value === null || value === undefined || value.trim() === '') {
    return null;
  }
  const seconds = Number(value);
  if (Number.isFinite(seconds)) {
    return Math.max(0, Math.ceil(seconds));
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Sends a request to the API; resolves to `{status, body, response}` or throws an `ApiError`. */
export async function request(method, path, { json, signal, headers = {} } = {}) {
  const init = {
    method,
    signal,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { Accept: 'application/json', ...headers },
  };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error && error.name === 'AbortError') {
      throw error;
    }
    throw new ApiError({
      message: 'the server cannot be reached; check your connection and try again',
    });
  }
  if (!response.ok) {
    throw await ApiError.from(response);
  }
  const type = response.headers.get('content-type') || '';
  const body = type.includes('json') ? await response.json() : await response.text();
  return { status: response.status, body, response };
}

export const api = {
  languages: () => request('GET', '/api/languages'),
  models: () => request('GET', '/api/models'),
  queue: () => request('GET', '/api/queue'),
  tasks: (limit = 20) => request('GET', `/api/tasks?limit=${limit}`),
  task: (id) => request('GET', `/api/tasks/${encodeURIComponent(id)}`),
  create: (task) => request('POST', '/api/tasks', { json: task }),
  cancel: (id) => request('DELETE', `/api/tasks/${encodeURIComponent(id)}`),
  downloadUrl: (id) => `/api/tasks/${encodeURIComponent(id)}/download`,
  eventsUrl: (id) => `/api/tasks/${encodeURIComponent(id)}/events`,
  gitToken: () => request('GET', '/api/git/token'),
  saveGitToken: (body) => request('POST', '/api/git/token', { json: body }),
  forgetGitToken: () => request('DELETE', '/api/git/token'),
  gitRepos: (page = 1) => request('GET', `/api/git/repos?page=${page}`),
  gitBranches: (repo, page = 1) =>
    request('GET', `/api/git/branches?repo=${encodeURIComponent(repo)}&page=${page}`),
  gitTree: (repo, commit) =>
    request('GET', `/api/git/tree?repo=${encodeURIComponent(repo)}&commit=${encodeURIComponent(commit)}`),
  createBatch: (body) => request('POST', '/api/batches', { json: body }),
  batches: () => request('GET', '/api/batches'),
  batch: (id) => request('GET', `/api/batches/${encodeURIComponent(id)}`),
  batchArchiveUrl: (id) => `/api/batches/${encodeURIComponent(id)}/archive`,
  pullRequest: (id, body) =>
    request('POST', `/api/batches/${encodeURIComponent(id)}/pull-request`, { json: body }),
};
