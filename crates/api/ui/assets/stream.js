// Follows a task's server-sent events (`GET /api/tasks/{id}/events`) over `fetch`, so the page
// controls the reconnection: after a dropped connection it comes back with `Last-Event-ID` set to
// the last numbered event it handled, and the server replays only what came after.
//
// A stream can also end without a final event (the replica stopped, or the server lost its live
// feed and sent the task's state instead); then `onGap` asks the task's state from the table and
// says whether the task is over. If it is not, the stream is opened again, with a growing pause.

import { ApiError } from './api.js';
import { sleep } from './util.js';

export const TERMINAL_EVENTS = new Set(['completed', 'error', 'cancelled']);

const FIRST_DELAY_MS = 500;
const LONGEST_DELAY_MS = 10000;

/**
 * Starts following the event stream at `url`. Handlers:
 * - `onEvent(name, data, numbered)` for every event, in order, each numbered one once;
 * - `onOpen()` when a stream is open, `onInterrupted(error)` when one broke;
 * - `onGap()` → `Promise<boolean>` when a stream ended without a final event: `true` = over;
 * - `onFatal(error)` when the task cannot be followed (not found).
 * Returns `{ close() }`.
 */
export function followTask(url, handlers) {
  const controller = new AbortController();
  const { signal } = controller;
  let lastSeq = 0;
  let delay = FIRST_DELAY_MS;

  const readStream = async () => {
    const headers = { Accept: 'text/event-stream' };
    if (lastSeq > 0) {
      headers['Last-Event-ID'] = String(lastSeq);
    }
    const response = await fetch(url, { headers, signal, credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) {
      throw await ApiError.from(response);
    }
    handlers.onOpen?.();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          return false;
        }
        buffer += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (dispatch(block)) {
            return true;
          }
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  };

  /** Handles one SSE block; `true` when it was a final event. */
  const dispatch = (block) => {
    let name = 'message';
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) {
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) {
        value = value.slice(1);
      }
      if (field === 'event') {
        name = value;
      } else if (field === 'data') {
        data.push(value);
      } else if (field === 'id') {
        id = value;
      }
    }
    if (data.length === 0) {
      return false;
    }
    let payload;
    try {
      payload = JSON.parse(data.join('\n'));
    } catch {
      return false;
    }
    const seq = id === null ? null : Number(id);
    const numbered = seq !== null && Number.isFinite(seq);
    if (numbered) {
      if (seq <= lastSeq) {
        return false;
      }
      lastSeq = seq;
    }
    delay = FIRST_DELAY_MS;
    handlers.onEvent(name, payload, numbered);
    return TERMINAL_EVENTS.has(name);
  };

  const run = async () => {
    while (!signal.aborted) {
      let wait = delay;
      try {
        if (await readStream()) {
          return;
        }
      } catch (error) {
        if (signal.aborted) {
          return;
        }
        if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
          handlers.onFatal?.(error);
          return;
        }
        if (error instanceof ApiError && error.retryAfter !== null) {
          wait = Math.max(wait, error.retryAfter * 1000);
        }
        handlers.onInterrupted?.(error);
      }
      if (signal.aborted) {
        return;
      }
      let over = false;
      try {
        over = await handlers.onGap();
      } catch {
        // The state could not be read either: try the stream again after the pause.
      }
      if (over || signal.aborted) {
        return;
      }
      await sleep(wait, signal);
      delay = Math.min(delay * 2, LONGEST_DELAY_MS);
    }
  };

  run();
  return {
    close: () => controller.abort(),
    get lastSeq() {
      return lastSeq;
    },
  };
}
