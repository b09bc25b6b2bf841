// The JavaScript/TypeScript explorer of AIunittest.
//
// A standalone ES module for node 20 (node built-ins only) that runs inside the runner's sandbox:
//
//     node [--import <tsx loader>] explore.mjs request.json result.json
//
// It imports the user's source file, calls each requested unit (function, method, static method,
// constructor) with candidate inputs, measures the V8 block coverage of the source file for every
// call, keeps greedily the calls that reach code the unit's kept calls did not, replays each kept
// call from scratch to tell stable results from unstable ones, and writes what it observed as
// JSON. It follows the explorer contract (explore-contract.md): every `value` it writes is a
// JavaScript expression made of literals (or `new Class(literals)` for a class of the file) that
// evaluates to a value `assert.deepStrictEqual` accepts as equal to the observed one.
//
// Layout: the main thread only supervises. The exploration runs in a worker thread, which imports
// the module and measures coverage with its own in-process inspector session. A synchronous
// infinite loop cannot be interrupted from inside, so the worker marks every call in a shared
// buffer (start time, allowed time, a key naming the call) and the main thread, whose event loop
// stays free, terminates a worker whose call overran, then starts a fresh worker that resumes at
// the same unit and skips the calls that hung. The main thread writes result.json atomically
// after every unit, so a run the sandbox kills still leaves the units finished so far.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Shared state between the supervisor and the worker: the call under way.

const SLOT_IN_CALL = 0; // Int32: 1 while user code runs
const SLOT_UNIT = 1; // Int32: index of the unit being explored
const SLOT_KEY_LENGTH = 2; // Int32: bytes of the key of the call under way
const SLOT_ORDINAL = 3; // Int32: how many guarded calls the unit made so far
const KEY_BYTES = 8192;
const SHARED_BYTES = 32 + KEY_BYTES;

const MAX_TIMEOUTS_PER_UNIT = 3;
const MAX_RESTARTS = 40;
const NO_GAIN_STREAK = 60; // random candidates in a row that add nothing end a unit
const MAX_TRIES_PER_UNIT = 4000;
const MAX_LITERAL_CHARS = 2000;


// =============================================================================================
// Supervisor (main thread)

async function supervise(requestPath, resultPath) {
  const started = Date.now();
  const request = JSON.parse(readFileSync(requestPath, 'utf8'));
  const units = request.units ?? [];
  const result = {
    imported: true,
    error: null,
    elapsed_ms: 0,
    units: units.map((unit) => unitResult(unit, 0, 'not explored: the run stopped before this unit', [])),
  };
  const write = () => {
    result.elapsed_ms = Date.now() - started;
    const temporary = `${resultPath}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(result, null, 1));
    renameSync(temporary, resultPath);
  };

  const shared = new SharedArrayBuffer(SHARED_BYTES);
  const slots = new Int32Array(shared, 0, 4);
  const times = new Float64Array(shared, 16, 2);
  const keyBytes = new Uint8Array(shared, 32, KEY_BYTES);
  const deadline = started + Math.max(1, request.budget_ms ?? 15000);
  const blacklist = []; // keys of calls that hung or killed their worker
  const timeouts = new Map(); // unit index -> calls that hung
  const cutoffs = {}; // unit index -> stop the unit before this call ordinal
  const crashesOutsideCalls = new Map();
  let restarts = 0;

  const runWorker = (startUnit) =>
    new Promise((finish) => {
      Atomics.store(slots, SLOT_IN_CALL, 0);
      slots[SLOT_UNIT] = startUnit;
      let settled = false;
      let importing = true;
      const worker = new Worker(new URL(import.meta.url), {
        workerData: { request, startUnit, blacklist, cutoffs, deadline, shared, cwd: process.cwd() },
        stdout: true, // the user's output is read and thrown away
        stderr: true,
        resourceLimits: { maxOldGenerationSizeMb: 1024 },
      });
      worker.stdout.resume();
      worker.stderr.resume();
      const done = (outcome) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        worker.terminate().catch(() => {});
        finish(outcome);
      };
      const watchdog = setInterval(() => {
        if (Atomics.load(slots, SLOT_IN_CALL) !== 1) return;
        if (Date.now() - times[0] > times[1]) done({ kind: 'hung', importing });
      }, 20);
      worker.on('message', (message) => {
        if (message.t === 'imported') {
          importing = false;
          if (!message.ok) {
            result.imported = false;
            result.error = message.error;
            result.units = [];
            done({ kind: 'finished' });
          }
        } else if (message.t === 'unit') {
          const extra = timeouts.get(message.index) ?? 0;
          message.result.tried += extra;
          result.units[message.index] = message.result;
          slots[SLOT_UNIT] = message.index + 1;
          write();
        } else if (message.t === 'done') {
          done({ kind: 'finished' });
        }
      });
      worker.on('error', (error) => {
        debug(`worker error: ${error?.stack ?? error}`);
        done({ kind: 'crashed', importing });
      });
      worker.on('exit', (code) => {
        debug(`worker exit: ${code}`);
        done({ kind: 'crashed', importing });
      });
    });

  let startUnit = 0;
  for (;;) {
    const outcome = await runWorker(startUnit);
    if (outcome.kind === 'finished') break;
    if (outcome.importing) {
      result.imported = false;
      result.error =
        outcome.kind === 'hung'
          ? 'Error: importing the module did not finish in time'
          : 'Error: the module stopped the process while it was imported';
      result.units = [];
      break;
    }
    const unit = slots[SLOT_UNIT];
    if (unit >= units.length) break;
    const inCall = Atomics.load(slots, SLOT_IN_CALL) === 1 || outcome.kind === 'hung';
    if (inCall) {
      const key = new TextDecoder().decode(keyBytes.slice(0, slots[SLOT_KEY_LENGTH]));
      blacklist.push(key);
      const count = (timeouts.get(unit) ?? 0) + 1;
      timeouts.set(unit, count);
      // After a few hangs the unit stops where it hung last: a deterministic replay of the
      // same calls then keeps what it found before without hanging again.
      if (count >= MAX_TIMEOUTS_PER_UNIT) cutoffs[unit] = slots[SLOT_ORDINAL];
    } else {
      const count = (crashesOutsideCalls.get(unit) ?? 0) + 1;
      crashesOutsideCalls.set(unit, count);
      if (count >= 2) {
        result.units[unit] = unitResult(units[unit], 0, 'the worker running this unit stopped outside a call', []);
        slots[SLOT_UNIT] = unit + 1;
      }
    }
    write();
    restarts += 1;
    startUnit = slots[SLOT_UNIT];
    if (restarts > MAX_RESTARTS || Date.now() > deadline + 2000 || startUnit >= units.length) break;
  }
  write();
  process.exit(0);
}

/** Diagnostics for whoever works on the explorer (EXPLORE_DEBUG=1); the sandbox never sets it. */
function debug(text) {
  if (process.env.EXPLORE_DEBUG) process.stderr.write(`${text}\n`);
}

function unitResult(unit, tried, note, cases) {
  return { name: unit.name, container: unit.container ?? null, tried, note, cases };
}

// =============================================================================================
// Worker: loading the module

async function explore(data) {
  const { request, cwd } = data;
  const guard = makeGuard(data.shared);
  silenceUserOutput();
  const exitAttempt = protectProcess();
  await registerTypeScript();

  const sourcePath = resolvePath(cwd, request.source);
  const coverage = await startCoverage(sourcePath);
  let namespace;
  // importing may take a while (TypeScript is compiled first), but not beyond the budget
  const importTime = Math.min(Math.max(5000, (request.call_timeout_ms ?? 1000) * 5), Math.max(1000, data.deadline - Date.now()));
  guard.begin(data.startUnit, 0, 'import', importTime);
  try {
    namespace = await import(pathToFileURL(sourcePath).href);
  } catch (error) {
    guard.end();
    parentPort.postMessage({ t: 'imported', ok: false, error: importError(error) });
    return;
  }
  guard.end();
  coverage.take(); // the module's top level is not a unit's
  parentPort.postMessage({ t: 'imported', ok: true });

  let source = '';
  try {
    source = readFileSync(sourcePath, 'utf8');
  } catch {
    // the module loaded, so it exists; without its text only runtime information is used
  }
  let context;
  try {
    context = makeContext({ request, data, guard, coverage, namespace, source, exitAttempt });
  } catch (error) {
    // a fault of the explorer itself: every unit says so, rather than a crash loop
    debug(String(error?.stack ?? error));
    const note = `the explorer failed: ${String(error?.message ?? error).split('\n')[0]}`;
    request.units.forEach((unit, index) => {
      if (index >= data.startUnit) parentPort.postMessage({ t: 'unit', index, result: unitResult(unit, 0, note, []) });
    });
    parentPort.postMessage({ t: 'done' });
    return;
  }
  for (let index = data.startUnit; index < request.units.length; index += 1) {
    let result;
    try {
      result = await exploreUnit(context, index);
    } catch (error) {
      // a fault of the explorer itself must not cost the other units
      context.guard.end();
      const unit = request.units[index];
      result = unitResult(unit, 0, `the explorer failed on this unit: ${String(error?.message ?? error).split('\n')[0]}`, []);
      debug(String(error?.stack ?? error));
    }
    parentPort.postMessage({ t: 'unit', index, result });
  }
  parentPort.postMessage({ t: 'done' });
}

/** "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'lodash' imported from …" */
function importError(error) {
  if (!(error instanceof Error)) return `Error: ${String(error)}`;
  const code = typeof error.code === 'string' ? ` [${error.code}]` : '';
  return `${error.name}${code}: ${error.message}`.split('\n')[0];
}

/** The tsx loader given on node's command line does not reach worker threads in node 20:
 * register tsx again inside the worker, from the same installation. */
async function registerTypeScript() {
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i += 1) {
    let loader = null;
    if (argv[i] === '--import' || argv[i] === '--loader') loader = argv[i + 1];
    else if (argv[i].startsWith('--import=')) loader = argv[i].slice('--import='.length);
    if (!loader || !/tsx/.test(loader)) continue;
    const dist = loader.replace(/\/loader\.mjs$/, '');
    const href = (path) => (path.startsWith('file:') ? path : pathToFileURL(path).href);
    try {
      (await import(href(`${dist}/esm/api/index.mjs`))).register();
    } catch {
      // an older or differently laid out tsx: the loader itself may still work
    }
    try {
      (await import(href(`${dist}/cjs/api/index.mjs`))).register();
    } catch {
      // CommonJS TypeScript then loads through the ES hooks alone
    }
  }
}

function silenceUserOutput() {
  const quiet = () => {};
  for (const name of Object.keys(console)) {
    if (typeof console[name] === 'function') console[name] = quiet;
  }
}

/** User code must not end the worker: `process.exit` and friends throw instead. */
function protectProcess() {
  class ProcessExitAttempt extends Error {}
  const refuse = () => {
    throw new ProcessExitAttempt('process.exit called');
  };
  process.exit = refuse;
  process.abort = refuse;
  process.reallyExit = refuse;
  const kill = process.kill.bind(process);
  process.kill = (pid, signal) => {
    if (pid === process.pid || pid === 0 || pid === process.ppid) refuse();
    return kill(pid, signal);
  };
  process.on('uncaughtException', () => {});
  process.on('unhandledRejection', () => {});
  return ProcessExitAttempt;
}

/** The worker's half of the watchdog: mark a call as under way, with the time it may take. */
function makeGuard(shared) {
  const slots = new Int32Array(shared, 0, 4);
  const times = new Float64Array(shared, 16, 2);
  const keyBytes = new Uint8Array(shared, 32, KEY_BYTES);
  const encoder = new TextEncoder();
  return {
    begin(unit, ordinal, key, ms) {
      const bytes = encoder.encode(key).slice(0, KEY_BYTES);
      keyBytes.set(bytes);
      slots[SLOT_KEY_LENGTH] = bytes.length;
      slots[SLOT_UNIT] = unit;
      slots[SLOT_ORDINAL] = ordinal;
      this.restart(ms);
      Atomics.store(slots, SLOT_IN_CALL, 1);
    },
    restart(ms) {
      times[0] = Date.now();
      times[1] = ms + 50;
    },
    end() {
      Atomics.store(slots, SLOT_IN_CALL, 0);
    },
  };
}

// =============================================================================================
// Coverage: V8 precise block coverage through an in-process inspector session

async function startCoverage(sourcePath) {
  const inspector = await import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => {
    let answer;
    let failure;
    // In-thread sessions answer synchronously.
    session.post(method, params, (error, result) => {
      failure = error;
      answer = result;
    });
    if (failure) throw failure;
    return answer;
  };
  post('Profiler.enable');
  post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  const wanted = pathToFileURL(sourcePath).href;
  const isSource = (url) => {
    const plain = url.split('?')[0].split('#')[0];
    if (plain === wanted) return true;
    try {
      return !plain.startsWith('file:') && resolvePath(plain) === sourcePath;
    } catch {
      return false;
    }
  };
  return {
    /** Coverage since the last take (V8 resets counts): function key -> covered intervals. */
    take() {
      const answer = post('Profiler.takePreciseCoverage');
      const covered = new Map();
      for (const script of answer?.result ?? []) {
        if (!isSource(script.url)) continue;
        for (const fn of script.functions) {
          const intervals = coveredIntervals(fn.ranges);
          if (intervals.length) covered.set(`${fn.functionName}@${fn.ranges[0].startOffset}`, intervals);
        }
      }
      return covered;
    },
  };
}

/** V8 reports nested ranges only where the count differs from the enclosing one: an offset is
 * covered when the innermost range around it has a count above zero. */
function coveredIntervals(ranges) {
  if (!ranges.length || ranges.every((range) => range.count === 0)) return [];
  const cuts = [...new Set(ranges.flatMap((range) => [range.startOffset, range.endOffset]))].sort((a, b) => a - b);
  const intervals = [];
  for (let i = 0; i + 1 < cuts.length; i += 1) {
    const [start, end] = [cuts[i], cuts[i + 1]];
    let innermost = null;
    for (const range of ranges) {
      if (range.startOffset <= start && end <= range.endOffset) {
        if (!innermost || range.endOffset - range.startOffset <= innermost.endOffset - innermost.startOffset) innermost = range;
      }
    }
    if (!innermost || innermost.count === 0) continue;
    const last = intervals[intervals.length - 1];
    if (last && last[1] === start) last[1] = end;
    else intervals.push([start, end]);
  }
  return intervals;
}

/** Whether `call` covers an offset that `kept` (function key -> merged intervals) does not. */
function addsCoverage(kept, call) {
  for (const [fn, intervals] of call) {
    const known = kept.get(fn) ?? [];
    for (const [start, end] of intervals) {
      let position = start;
      for (const [knownStart, knownEnd] of known) {
        if (knownEnd <= position) continue;
        if (knownStart > position) break;
        position = knownEnd;
        if (position >= end) break;
      }
      if (position < end) return true;
    }
  }
  return false;
}

function mergeCoverage(kept, call) {
  for (const [fn, intervals] of call) {
    const all = [...(kept.get(fn) ?? []), ...intervals].sort((a, b) => a[0] - b[0]);
    const merged = [];
    for (const [start, end] of all) {
      const last = merged[merged.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], end);
      else merged.push([start, end]);
    }
    kept.set(fn, merged);
  }
}

// =============================================================================================
// The module's exports and the source text

function makeContext({ request, data, guard, coverage, namespace, source, exitAttempt }) {
  const exportsMap = moduleExports(namespace, source);
  const classes = new Map(); // path -> class, for exported classes (namespaces searched one level deep)
  const add = (path, value) => {
    if (isClass(value) && ![...classes.values()].includes(value)) classes.set(path, value);
  };
  for (const [name, value] of exportsMap) {
    if (name === 'default' && typeof value === 'function' && value.name && exportsMap.get(value.name) === value) continue;
    add(name, value);
    if (value && typeof value === 'object') {
      for (const [inner, innerValue] of Object.entries(value)) add(`${name}.${inner}`, innerValue);
    }
  }
  const masked = mask(source);
  return {
    request,
    guard,
    coverage,
    exportsMap,
    classes,
    exitAttempt,
    source,
    masked,
    depth: depths(masked),
    blacklist: new Set(data.blacklist),
    cutoffs: data.cutoffs,
    deadline: data.deadline,
    callTimeout: Math.max(10, request.call_timeout_ms ?? 1000),
    maxCases: Math.max(1, request.max_cases_per_unit ?? 8),
    seed: Number(request.seed ?? 0) >>> 0,
    scope: evaluationScope(exportsMap),
    constructions: new Map(), // class -> working constructor argument lists
    paramCache: new Map(),
    privateFields: new Map(),
    fileStrings: stringLiterals(source).filter((text) => text.length <= 8).slice(0, 40),
    unit: 0,
    ordinal: 0,
  };
}

/** Named exports, the default export, and for CommonJS the properties of `module.exports`. */
function moduleExports(namespace, source) {
  const map = new Map();
  for (const [name, value] of Object.entries(namespace)) {
    if (name !== 'module.exports') map.set(name, value);
  }
  const main = namespace.default;
  const commonjs = /\bmodule\.exports\b|\bexports\.[\w$]+\s*=/.test(source);
  if (main && (typeof main === 'object' || typeof main === 'function') && (commonjs || typeof main === 'object')) {
    for (const name of Object.getOwnPropertyNames(main)) {
      if (map.has(name) || (typeof main === 'function' && ['length', 'name', 'prototype', 'caller', 'arguments'].includes(name))) continue;
      try {
        map.set(name, main[name]);
      } catch {
        // a throwing getter is not a unit
      }
    }
  }
  if (typeof main === 'function' && main.name && !map.has(main.name)) map.set(main.name, main);
  return map;
}

function isClass(value) {
  if (typeof value !== 'function') return false;
  try {
    return /^class\b/.test(Function.prototype.toString.call(value));
  } catch {
    return false;
  }
}

const RESERVED = new Set(
  ('break case catch class const continue debugger default delete do else enum export extends false finally for ' +
    'function if import in instanceof new null return super switch this throw true try typeof var void while with ' +
    'yield let static implements interface package private protected public await arguments eval undefined NaN Infinity')
    .split(' '),
);

/** Names an argument expression may use: the module's exports (for `new Point(1, 2)`). */
function evaluationScope(exportsMap) {
  const names = [];
  const values = [];
  for (const [name, value] of exportsMap) {
    if (/^[A-Za-z_$][\w$]*$/.test(name) && !RESERVED.has(name)) {
      names.push(name);
      values.push(value);
    }
  }
  return { names, values, cache: new Map() };
}

/** Fresh values of argument expressions (each evaluation builds new arrays and objects). */
function evaluate(scope, texts) {
  const code = `return [${texts.join(', ')}];`;
  let make = scope.cache.get(code);
  if (!make) {
    make = new Function(...scope.names, code);
    scope.cache.set(code, make);
  }
  return make(...scope.values);
}

// ---------------------------------------------------------------------------------------------
// Reading source text: comments and string contents masked (same offsets), so that brackets and
// keywords can be found with plain scanning.

function mask(source) {
  const out = source.split('');
  const n = source.length;
  const blank = (from, to) => {
    for (let k = from; k < to && k < n; k += 1) if (out[k] !== '\n') out[k] = ' ';
  };
  const templates = []; // bracket depth at each open `${`
  let depth = 0;
  let previous = ''; // last significant character, to tell a regular expression from a division
  let word = '';
  const scanTemplate = (from) => {
    let j = from;
    while (j < n) {
      if (source[j] === '\\') {
        blank(j, j + 2);
        j += 2;
      } else if (source[j] === '`') {
        return j + 1;
      } else if (source[j] === '$' && source[j + 1] === '{') {
        blank(j, j + 2);
        templates.push(depth);
        depth += 1;
        return j + 2;
      } else {
        blank(j, j + 1);
        j += 1;
      }
    }
    return n;
  };
  let i = 0;
  while (i < n) {
    const c = source[i];
    const d = source[i + 1];
    if (c === '/' && d === '/') {
      const end = source.indexOf('\n', i);
      blank(i, end < 0 ? n : end);
      i = end < 0 ? n : end;
    } else if (c === '/' && d === '*') {
      const end = source.indexOf('*/', i + 2);
      blank(i, end < 0 ? n : end + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
      previous = 'x';
      word = '';
    } else if (c === '`') {
      i = scanTemplate(i + 1);
      previous = 'x';
      word = '';
    } else if (c === '/' && (previous === '' || '(,=:[!&|?{};+-*%<>~^'.includes(previous) ||
      /^(return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$/.test(word))) {
      let j = i + 1;
      let inClass = false;
      while (j < n && source[j] !== '\n') {
        if (source[j] === '\\') j += 1;
        else if (source[j] === '[') inClass = true;
        else if (source[j] === ']') inClass = false;
        else if (source[j] === '/' && !inClass) break;
        j += 1;
      }
      blank(i + 1, j);
      i = j + 1;
      previous = 'x';
      word = '';
    } else {
      if (c === '{' || c === '(' || c === '[') depth += 1;
      if (c === '}' || c === ')' || c === ']') {
        depth -= 1;
        if (c === '}' && templates.length && templates[templates.length - 1] === depth) {
          templates.pop();
          out[i] = ' ';
          i = scanTemplate(i + 1);
          previous = 'x';
          continue;
        }
      }
      if (/[\w$]/.test(c)) {
        word = /[\w$]/.test(source[i - 1] ?? '') ? word + c : c;
        previous = 'x';
      } else if (!/\s/.test(c)) {
        previous = c;
        word = '';
      }
      i += 1;
    }
  }
  return out.join('');
}

/** Bracket depth before each offset of masked text. */
function depths(masked) {
  const depth = new Int32Array(masked.length + 1);
  let level = 0;
  for (let i = 0; i < masked.length; i += 1) {
    depth[i] = level;
    const c = masked[i];
    if (c === '{' || c === '(' || c === '[') level += 1;
    else if (c === '}' || c === ')' || c === ']') level = Math.max(0, level - 1);
  }
  depth[masked.length] = level;
  return depth;
}

/** Offset of the bracket closing the one at `open`, in masked text. */
function matchClose(masked, open) {
  let level = 0;
  for (let i = open; i < masked.length; i += 1) {
    const c = masked[i];
    if (c === '{' || c === '(' || c === '[') level += 1;
    else if (c === '}' || c === ')' || c === ']') {
      level -= 1;
      if (level === 0) return i;
    }
  }
  return masked.length;
}

/** Split at top-level separators (masked text decides, the original text is returned). */
function splitTop(text, maskedText, separator) {
  const parts = [];
  let level = 0;
  let angle = 0;
  let from = 0;
  for (let i = 0; i < maskedText.length; i += 1) {
    const c = maskedText[i];
    if ('([{'.includes(c)) level += 1;
    else if (')]}'.includes(c)) level -= 1;
    else if (c === '<') angle += 1;
    else if (c === '>' && maskedText[i - 1] !== '=' && angle > 0) angle -= 1;
    else if (c === separator && level === 0 && angle === 0) {
      parts.push(text.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(text.slice(from));
  return parts.map((part) => part.trim()).filter((part, index, all) => part !== '' || index < all.length - 1);
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where a unit is declared in the source: the offset of its parameter list's `(` (or of a lone
 * arrow parameter), and its JSDoc comment. */
function locate(context, unit) {
  const { masked, depth, source } = context;
  let region = [0, masked.length];
  let level = 0;
  if (unit.container) {
    for (const segment of unit.container.split('.')) {
      const block = findBlock(masked, depth, region, segment);
      if (!block) return null;
      region = [block + 1, matchClose(masked, block)];
      level = depth[block] + 1;
    }
  }
  const name = escapeRegExp(unit.name);
  const patterns = [];
  if (unit.container) {
    patterns.push(new RegExp(`(?:^|[^\\w$.])(?:(?:public|private|protected|static|async|readonly|override|abstract)\\s+)*\\*?\\s*${name}\\s*(?:<[^()]*>)?\\s*\\(`, 'g'));
  }
  if (unit.name === 'default') {
    patterns.push(/\bexport\s+default\s+(?:async\s+)?(?:function\b\s*\*?\s*[\w$]*\s*)?(?:<[^()]*>)?\s*\(/g);
  }
  patterns.push(
    new RegExp(`\\bfunction\\s*\\*?\\s*${name}\\s*(?:<[^()]*>)?\\s*\\(`, 'g'),
    new RegExp(`(?:^|[^\\w$.])${name}\\s*(?::[^=]+)?=\\s*(?:async\\s*)?(?:function\\b\\s*\\*?\\s*[\\w$]*\\s*)?(?:<[^()]*>)?\\s*\\(`, 'g'),
    new RegExp(`(?:^|[^\\w$.])${name}\\s*(?::[^=]+)?=\\s*(?:async\\s+)?([\\w$]+)\\s*=>`, 'g'),
    new RegExp(`(?:^|[^\\w$.])${name}\\s*:\\s*(?:async\\s*)?(?:function\\b\\s*\\*?\\s*[\\w$]*\\s*)?\\(`, 'g'),
    new RegExp(`(?:^|[^\\w$.])(?:async\\s+)?${name}\\s*\\(`, 'g'),
  );
  for (const pattern of patterns) {
    pattern.lastIndex = region[0];
    for (let match; (match = pattern.exec(masked)) && match.index < region[1];) {
      const end = match.index + match[0].length;
      const paren = masked[end - 1] === '(' ? end - 1 : null;
      const at = match.index + (match[0].length - match[0].trimStart().length);
      if (depth[at] !== level && !(pattern.source.includes(':\\s*') && depth[at] === level + 1)) continue;
      if (paren !== null) {
        // a call, not a declaration: the parameter list must be followed by a body or an arrow
        const close = matchClose(masked, paren);
        const after = masked.slice(close + 1, close + 400);
        if (!/^\s*(?::[^;]*?)?(?:\{|=>)/.test(after)) continue;
        return { open: paren, close, doc: jsdocBefore(source, at) };
      }
      const lone = match[1];
      const start = masked.indexOf(lone, match.index + match[0].indexOf(lone));
      return { open: null, lone: [start, start + lone.length], doc: jsdocBefore(source, at) };
    }
  }
  return null;
}

function findBlock(masked, depth, [from, to], name) {
  const pattern = new RegExp(`\\b(?:class|namespace|module)\\s+${escapeRegExp(name)}\\b|\\b${escapeRegExp(name)}\\s*=\\s*class\\b`, 'g');
  pattern.lastIndex = from;
  const match = pattern.exec(masked);
  if (!match || match.index >= to) return null;
  const open = masked.indexOf('{', match.index + match[0].length);
  return open < 0 || open >= to ? null : open;
}

function jsdocBefore(source, at) {
  let before = source.slice(0, source.lastIndexOf('\n', at) + 1).trimEnd();
  // decorators sit between a member's comment and the member
  while (/\n\s*@[\w$.]+(\([^\n]*\))?$/.test(before)) before = before.replace(/\n\s*@[\w$.]+(\([^\n]*\))?$/, '').trimEnd();
  if (!before.endsWith('*/')) {
    // the comment may sit on the same line as `export`: `/** … */ export function`
    return null;
  }
  const start = before.lastIndexOf('/**');
  if (start < 0) return null;
  return before.slice(start);
}

// ---------------------------------------------------------------------------------------------
// Parameters: names, TypeScript types, defaults, JSDoc

/** The parameters of a unit, each with its candidates, most meaningful first. */
function parametersOf(context, unit, fn, role) {
  const cacheKey = `${unit.container ?? ''}.${unit.name}`;
  if (context.paramCache.has(cacheKey)) return context.paramCache.get(cacheKey);
  const located = context.source ? locate(context, unit) : null;
  let parsed = null;
  if (located) {
    if (located.open !== null) {
      const text = context.source.slice(located.open + 1, located.close);
      parsed = parseParams(text, context.masked.slice(located.open + 1, located.close));
    } else {
      parsed = [{ name: context.source.slice(...located.lone), type: null, defaultText: null, optional: false, rest: false, keys: null }];
    }
  }
  const code = functionText(fn, role);
  if (!parsed && code !== null) parsed = paramsFromCode(code);
  parsed ??= [];
  const doc = parseJsdoc(located?.doc ?? null, unit.name);
  const body = bodyLiterals(code ?? '', parsed.map((p) => p.name));
  const params = parsed
    .filter((p) => p.name !== 'this')
    .map((p, index) => ({ ...p, candidates: candidatesFor(context, unit, p, index, doc, body) }));
  const info = { params, examples: doc.examples.filter((example) => example.length <= params.length || params.some((p) => p.rest)) };
  context.paramCache.set(cacheKey, info);
  return info;
}

/** The function's own text (its body literals, and its parameters when the source does not say). */
function functionText(fn, role) {
  let text;
  try {
    text = Function.prototype.toString.call(fn);
  } catch {
    return null;
  }
  if (role !== 'constructor') return text;
  // a class's text: the constructor, else the parent's
  for (let cls = fn; isClass(cls); cls = Object.getPrototypeOf(cls)) {
    const classText = Function.prototype.toString.call(cls);
    const masked = mask(classText);
    const body = masked.indexOf('{');
    const level = depths(masked);
    const pattern = /(?:^|[^\w$.])constructor\s*\(/g;
    for (let match; (match = pattern.exec(masked));) {
      if (level[match.index + 1] === level[body] + 1 || level[match.index] === level[body] + 1) {
        return classText.slice(match.index);
      }
    }
  }
  return 'constructor() {}';
}

function paramsFromCode(code) {
  const masked = mask(code);
  const arrow = /^\s*(?:async\s+)?([\w$]+)\s*=>/.exec(masked);
  if (arrow) return [{ name: arrow[1], type: null, defaultText: null, optional: false, rest: false, keys: null }];
  const open = masked.indexOf('(');
  if (open < 0) return [];
  const close = matchClose(masked, open);
  return parseParams(code.slice(open + 1, close), masked.slice(open + 1, close));
}

function parseParams(text, maskedText) {
  const pieces = [];
  let from = 0;
  for (const part of splitTop(text, maskedText, ',')) {
    const at = text.indexOf(part, from);
    pieces.push([part, maskedText.slice(at, at + part.length)]);
    from = at + part.length;
  }
  return pieces.filter(([part]) => part).map(([part, maskedPart]) => parseParam(part, maskedPart));
}

function parseParam(text, maskedText) {
  const strip = /^(?:@[\w$.]+(?:\([^)]*\))?\s*|(?:public|private|protected|readonly|override)\s+)*/.exec(maskedText)[0].length;
  let rest = text.slice(strip).trim();
  let maskedRest = maskedText.slice(strip).trim();
  const param = { name: 'arg', type: null, defaultText: null, optional: false, rest: false, keys: null };
  if (rest.startsWith('...')) {
    param.rest = true;
    rest = rest.slice(3);
    maskedRest = maskedRest.slice(3);
  }
  let after;
  if (rest[0] === '{' || rest[0] === '[') {
    const close = matchClose(maskedRest, 0);
    const pattern = rest.slice(0, close + 1);
    if (rest[0] === '{') {
      param.keys = splitTop(pattern.slice(1, -1), maskedRest.slice(1, close), ',')
        .map((key) => /^\s*(?:\.\.\.)?([\w$]+)/.exec(key)?.[1])
        .filter(Boolean);
      param.name = 'options';
    } else {
      param.name = 'values';
    }
    after = close + 1;
  } else {
    const name = /^[\w$]+/.exec(rest);
    param.name = name ? name[0] : 'arg';
    after = name ? name[0].length : 0;
  }
  let tail = rest.slice(after).trim();
  let maskedTail = maskedRest.slice(after).trim();
  if (tail.startsWith('?')) {
    param.optional = true;
    tail = tail.slice(1).trim();
    maskedTail = maskedTail.slice(1).trim();
  }
  const equals = topLevelEquals(maskedTail);
  const typePart = equals < 0 ? tail : tail.slice(0, equals);
  if (equals >= 0) param.defaultText = tail.slice(equals + 1).trim();
  if (typePart.trim().startsWith(':')) param.type = typePart.trim().slice(1).trim();
  return param;
}

function topLevelEquals(maskedText) {
  let level = 0;
  for (let i = 0; i < maskedText.length; i += 1) {
    const c = maskedText[i];
    if ('([{<'.includes(c)) level += 1;
    else if (')]}'.includes(c) || (c === '>' && maskedText[i - 1] !== '=')) level -= 1;
    else if (c === '=' && level <= 0 && !'=!<>'.includes(maskedText[i - 1]) && !'=>'.includes(maskedText[i + 1])) return i;
  }
  return -1;
}

/** `@param {type} name` types and `@example` calls of the unit. */
function parseJsdoc(doc, name) {
  const result = { types: new Map(), optional: new Set(), defaults: new Map(), examples: [] };
  if (!doc) return result;
  const lines = doc.replace(/^\/\*\*|\*\/$/g, '').split('\n').map((line) => line.replace(/^\s*\*\s?/, ''));
  const text = lines.join('\n');
  for (const match of text.matchAll(/@(?:param|arg|argument)\s+(?:\{([^}]*(?:\{[^}]*\}[^}]*)*)\}\s*)?(\[[^\]]+\]|[\w$.]+)/g)) {
    let [, type, target] = match;
    if (target.startsWith('[')) {
      const [inner, fallback] = target.slice(1, -1).split('=');
      target = inner.trim();
      result.optional.add(target);
      if (fallback !== undefined) result.defaults.set(target, fallback.trim());
    }
    if (type) {
      type = type.trim();
      if (type.endsWith('=')) {
        type = type.slice(0, -1);
        result.optional.add(target);
      }
      result.types.set(target, type.replace(/^\?/, '').replace(/^!/, ''));
    }
  }
  const examples = text.split(/@example/).slice(1).map((part) => part.split(/\n\s*@\w/)[0]);
  const call = new RegExp(`(?:^|[^\\w$])${escapeRegExp(name)}\\s*\\(`, 'g');
  for (const example of examples) {
    const masked = mask(example);
    for (const match of masked.matchAll(call)) {
      const open = match.index + match[0].length - 1;
      const close = matchClose(masked, open);
      const args = splitTop(example.slice(open + 1, close), masked.slice(open + 1, close), ',');
      const texts = args.map(canonicalLiteral);
      if (texts.every((t) => t !== undefined)) result.examples.push(texts);
    }
  }
  return result;
}

/** A literal written in the source (a default, an example argument) in our own spelling. */
function canonicalLiteral(text) {
  if (!text || /\b(?:function|=>|new|require|import|process|globalThis|this)\b/.test(text)) return undefined;
  try {
    return literal(new Function(`return (${text});`)())?.text;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Literals in a function's body: comparisons, cases, lengths, string methods

const STRING_LITERAL = String.raw`'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"`;
const NUMBER_LITERAL = String.raw`-?\d+(?:\.\d+)?(?:e[+-]?\d+)?`;

function bodyLiterals(code, names) {
  const specific = new Map(names.map((name) => [name, { numbers: [], strings: [], lengths: [], fields: new Map() }]));
  const all = { numbers: [], strings: [], lengths: [] };
  const literalValue = (text) => {
    if (/^['"]/.test(text)) {
      try {
        return text[0] === '"' ? JSON.parse(text) : new Function(`return ${text};`)();
      } catch {
        return undefined;
      }
    }
    return Number(text);
  };
  const note = (subject, text, isLength) => {
    const value = literalValue(text);
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return;
    const [base, ...path] = subject.split('.');
    const bucket = specific.get(base);
    if (isLength && typeof value === 'number') {
      all.lengths.push(value);
      bucket?.lengths.push(value);
    } else if (bucket && path.length === 1 && path[0] !== 'length') {
      const field = bucket.fields.get(path[0]) ?? [];
      field.push(value);
      bucket.fields.set(path[0], field);
    } else if (bucket && path.length === 0) {
      (typeof value === 'number' ? bucket.numbers : bucket.strings).push(value);
    }
    (typeof value === 'number' ? all.numbers : all.strings).push(value);
  };
  const operator = '===|!==|==|!=|<=|>=|<|>|%';
  const subject = String.raw`[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*`;
  const value = `${STRING_LITERAL}|${NUMBER_LITERAL}`;
  for (const m of code.matchAll(new RegExp(`(${subject})\\s*(?:${operator})\\s*(${value})`, 'g'))) note(m[1], m[2], m[1].endsWith('.length'));
  for (const m of code.matchAll(new RegExp(`(${value})\\s*(?:${operator})\\s*(${subject})`, 'g'))) note(m[2], m[1], m[2].endsWith('.length'));
  for (const m of code.matchAll(new RegExp(`(${subject})\\.(?:startsWith|endsWith|includes|indexOf|split|has|get)\\(\\s*(${STRING_LITERAL})`, 'g'))) note(m[1], m[2], false);
  for (const m of code.matchAll(new RegExp(`\\bcase\\s+(${value})\\s*:`, 'g'))) note('', m[1], false);
  // every number (loops, divisions, thresholds) and every short string
  for (const m of code.matchAll(/(?<![\w$.'"])\d+(?:\.\d+)?(?![\w$])/g)) all.numbers.push(Number(m[0]));
  // short strings without spaces: tokens, keys, separators (messages are not inputs)
  for (const text of stringLiterals(code)) if (text.length <= 24 && !/\s/.test(text)) all.strings.push(text);
  const unique = (list) => [...new Set(list)];
  for (const bucket of specific.values()) {
    bucket.numbers = unique(bucket.numbers);
    bucket.strings = unique(bucket.strings);
    bucket.lengths = unique(bucket.lengths);
  }
  return { specific, numbers: unique(all.numbers).slice(0, 16), strings: unique(all.strings).slice(0, 24), lengths: unique(all.lengths).slice(0, 6) };
}

function stringLiterals(code) {
  const found = [];
  for (const m of code.matchAll(new RegExp(STRING_LITERAL, 'g'))) {
    try {
      found.push(m[0][0] === '"' ? JSON.parse(m[0]) : new Function(`return ${m[0]};`)());
    } catch {
      // an odd escape: not a candidate
    }
  }
  return [...new Set(found)];
}

// ---------------------------------------------------------------------------------------------
// Candidates for one parameter, as argument expressions, most meaningful first

const OMIT = '<omitted>'; // the argument is left out (its default applies)

const NUMBERS = ['1', '0', '-1', '2', '10', '0.5', '100', '3', '-7', '1000000'];
const STRINGS = ['"hello"', '""', '"Hello World"', '"a"', '"abc def ghi"', '"  padded  "', '"123"', '"héllo wörld"'];
const FALLBACKS = ['0', '1', '-1', '""', '"abc"', '[]', '[1, 2, 3]', 'null', 'undefined', 'true', '{}'];
const CALLBACKS = ['(x) => x', '(x) => x * 2', '(a, b) => a - b', '() => true', '(x) => !x'];

const NAME_RULES = [
  [/^(?:n|num|number|count|size|width|height|len|length|index|idx|i|j|k|x|y|z|dx|dy|amount|total|limit|max|min|age|year|month|day|hours?|minutes?|seconds?|price|cost|qty|quantity|times|step|start|end|from|to|offset|depth|level|radius|rate|percent|percentage|score|ms|delay|timeout|precision|digits|decimals|places|base|exp|exponent|power|capacity|port|balance|deposit|withdrawal|a|b|c|value|val|num1|num2|lo|hi|low|high|target|factor|divisor|dividend)$/i, 'number'],
  [/(?:Count|Size|Index|Length|Width|Height|Amount|Total|Num|Ms|Max|Min|Limit|Rate|Price|Age|Year|Seconds|Number)$/, 'number'],
  [/^(?:s|str|string|text|name|title|word|label|message|msg|prefix|suffix|sep|separator|delimiter|delim|char|ch|key|path|url|email|input|line|query|pattern|format|fmt|code|lang|locale|slug|roman|numeral|token|sentence|phrase|content|body|html|json|csv|expr|expression|source|src|id|username|password|currency|color|colour|greeting|first|last|firstName|lastName|address|city|country|type|kind|mode|unit|ext|filename|file|dir|template|placeholder|hex|owner|holder|author|sender|recipient|description|note|comment|category|tag|status|word1|word2|needle|haystack)$/i, 'string'],
  [/(?:Name|Text|Str|String|Key|Path|Url|Id|Label|Message|Title|Prefix|Suffix|Email|Code|Type)$/, 'string'],
  [/^(?:is|has|should|can|enable|disable|allow|use|include|skip|ignore)[A-Z_]|^(?:flag|strict|verbose|force|recursive|deep|reverse|reversed|ascending|descending|caseSensitive|ignoreCase|inclusive|exclusive|enabled|active|visible|debug|silent|loose|unique)$/, 'boolean'],
  [/^(?:items|list|arr|array|values|nums|numbers|elements|xs|ys|data|entries|rows|records|parts|args|tokens|lines|strings|words|scores|prices|points|matrix|grid|pairs|tasks|users|todos|nodes|edges|children|keys|ids|names|collection|queue|stack|vec|vector|coords|bits|digits|chars|samples|weights)$/i, 'array'],
  [/^(?:options|opts|config|cfg|settings|params|obj|object|props|attrs|attributes|record|user|person|payload|map|dict|headers|meta|context|ctx|state|defaults|overrides|source|target|input)$/i, 'object'],
  [/^(?:fn|func|callback|cb|predicate|pred|mapper|reducer|compare|comparator|compareFn|f|handler|iteratee|transform|visitor|test|check|filter|selector|getter|sorter|onDone|next)$/, 'function'],
];

const BY_KIND = {
  number: NUMBERS,
  string: STRINGS,
  boolean: ['true', 'false'],
  array: ['[1, 2, 3]', '[]', '[5]', '[3, 1, 2]', '["a", "b", "c"]', '[1, 1, 2]', '[-1, 0, 1]'],
  object: ['{}', '{ a: 1 }', '{ name: "x", value: 1 }'],
  function: CALLBACKS,
};

function kindOfName(name) {
  for (const [rule, kind] of NAME_RULES) if (rule.test(name)) return kind;
  if (/[^s]s$/.test(name) && name.length > 3) return 'array'; // a plural
  return null;
}

function kindOfText(text) {
  if (text === OMIT) return 'omit';
  if (/^-?[\d.]/.test(text) || /^-?(?:NaN|Infinity)$/.test(text)) return /n$/.test(text) ? 'bigint' : 'number';
  if (text[0] === '"') return 'string';
  if (text[0] === '[') return 'array';
  if (text[0] === '{') return 'object';
  if (text === 'true' || text === 'false') return 'boolean';
  if (text.includes('=>')) return 'function';
  if (text.startsWith('new ')) return 'instance';
  return 'other';
}

function candidatesFor(context, unit, param, index, doc, body) {
  const list = [];
  const add = (texts) => {
    for (const text of texts) if (text !== undefined && text !== null && !list.includes(text)) list.push(text);
  };
  for (const example of doc.examples) if (example[index] !== undefined) add([example[index]]);
  const type = param.type ?? doc.types.get(param.name) ?? null;
  const defaultText = param.defaultText ?? doc.defaults.get(param.name) ?? null;
  if (defaultText !== null || param.rest) add([OMIT]);
  const typed = type ? typeCandidates(context, type, 0) : null;
  if (typed) add(typed.slice(0, 3));
  if (defaultText !== null) add([canonicalLiteral(defaultText)]);
  if (param.optional || doc.optional.has(param.name)) add([OMIT]);
  if (typed) add(typed);
  const kinds = new Set(list.map(kindOfText).filter((kind) => kind !== 'omit'));
  const nameKind = kindOfName(param.name);
  if (!kinds.size && nameKind) kinds.add(nameKind);
  const accepts = (kind) => !kinds.size || kinds.has(kind) || (kind === 'string' && kinds.has('array') && false);

  // literals the body compares this parameter with, then its fields and lengths
  const own = body.specific.get(param.name);
  if (own) {
    if (accepts('number')) add(own.numbers.flatMap(around));
    if (accepts('string')) add(own.strings.flatMap(stringsAround));
    if (accepts('string')) add(own.lengths.flatMap((k) => lengthStrings(k)));
    if (accepts('array')) add(own.lengths.flatMap((k) => lengthArrays(k)));
    if (own.fields.size && (accepts('object') || kinds.has('object'))) add(objectsFromFields(own.fields));
  }
  if (param.keys) add(objectsFromKeys(param.keys, body));
  if (nameKind && (!typed || !typed.length)) add(BY_KIND[nameKind]);
  if (!typed || !typed.length) add(instancesFor(context, unit, param.name));
  if (accepts('number')) add(body.numbers.flatMap(around).slice(0, 24));
  if (accepts('string')) add(body.strings.map((s) => JSON.stringify(s)));
  if (accepts('string')) add(body.lengths.flatMap((k) => lengthStrings(k)));
  if (accepts('array')) add(body.lengths.flatMap((k) => lengthArrays(k)));
  if (!nameKind && (!typed || !typed.length)) add(FALLBACKS);
  else add(['null', 'undefined', FALLBACKS[0], FALLBACKS[3], '[]']);
  return list.slice(0, 48);
}

function around(n) {
  if (!Number.isInteger(n)) return [literal(n).text];
  return [n, n - 1, n + 1].map((v) => literal(v).text);
}

function stringsAround(s) {
  return [JSON.stringify(s), JSON.stringify(`${s}abc`), JSON.stringify(`abc${s}`), JSON.stringify(s.toUpperCase())];
}

function lengthStrings(k) {
  return [k - 1, k, k + 1].filter((n) => n >= 0 && n <= 200).map((n) => JSON.stringify('abcdefghij'.repeat(21).slice(0, n)));
}

function lengthArrays(k) {
  return [k, k + 1].filter((n) => n >= 0 && n <= 50).map((n) => `[${Array.from({ length: n }, (_, i) => i + 1).join(', ')}]`);
}

function objectsFromFields(fields) {
  const base = [...fields.keys()].map((f) => [f, fields.get(f)[0]]);
  const render = (pairs) => `{ ${pairs.map(([k, v]) => `${propertyKey(k)}: ${literal(v).text}`).join(', ')} }`;
  const out = [render(base)];
  for (const [field, values] of fields) {
    for (const v of values.slice(1, 4)) out.push(render(base.map(([k, old]) => [k, k === field ? v : old])));
  }
  return out;
}

function objectsFromKeys(keys, body) {
  const valueFor = (key) => {
    const kind = kindOfName(key);
    if (kind === 'number') return '1';
    if (kind === 'boolean') return 'true';
    if (kind === 'array') return '[1, 2]';
    if (kind === 'function' || kind === 'object') return '{}';
    return JSON.stringify(body.strings[0] ?? 'a');
  };
  const full = `{ ${keys.map((k) => `${propertyKey(k)}: ${valueFor(k)}`).join(', ')} }`;
  return [full, '{}'];
}

/** Instances of a class of the file, for a parameter named like it (`account`, `other`). */
function instancesFor(context, unit, name) {
  const out = [];
  for (const [path, cls] of context.classes) {
    const short = path.split('.').pop().toLowerCase();
    const sameClass = unit.container && unit.container === path;
    if (name.toLowerCase().includes(short) || (sameClass && /^(?:other|that|rhs|b|v|vec|p|q|to|from|target|source)$/i.test(name))) {
      out.push(...constructionTexts(context, path, cls));
    }
  }
  return out;
}

function constructionTexts(context, path, cls) {
  return (context.constructions.get(cls) ?? []).slice(0, 2).map((args) => `new ${path}(${args.filter((t) => t !== OMIT).join(', ')})`);
}

/** Candidates for a TypeScript or JSDoc type; null when the type says nothing useful. */
function typeCandidates(context, type, depth) {
  if (depth > 4) return null;
  let t = type.trim().replace(/^\|/, '').trim();
  const masked = mask(t);
  if (t.startsWith('(') && matchClose(masked, 0) === t.length - 1) return typeCandidates(context, t.slice(1, -1), depth + 1);
  const union = splitTop(t, masked, '|');
  if (union.length > 1) {
    const lists = union.map((member) => typeCandidates(context, member, depth + 1) ?? []);
    if (lists.every((list) => !list.length)) return null;
    const merged = [];
    for (let i = 0; lists.some((list) => i < list.length); i += 1) {
      for (const list of lists) if (i < list.length && !merged.includes(list[i])) merged.push(list[i]);
    }
    return merged;
  }
  const intersection = splitTop(t, masked, '&');
  if (intersection.length > 1) return typeCandidates(context, intersection[0], depth + 1);
  t = t.replace(/^readonly\s+/, '');
  if (/^(['"]).*\1$/.test(t)) return [canonicalLiteral(t)].filter(Boolean);
  if (/^-?\d+(\.\d+)?$/.test(t)) return [t];
  if (t === 'true' || t === 'false') return [t];
  if (t === 'null') return ['null'];
  if (t === 'undefined' || t === 'void') return ['undefined'];
  const lower = t.toLowerCase();
  if (lower === 'number') return NUMBERS;
  if (lower === 'bigint') return ['1n', '0n', '-1n', '10n'];
  if (lower === 'string') return STRINGS;
  if (lower === 'boolean') return ['true', 'false'];
  if (/^(?:any|unknown|object|\*|\{\}|mixed|never)$/i.test(t)) return null;
  const arrayOf = /^(.*)\[\]$/.exec(t) ?? /^(?:Readonly)?Array\s*<(.*)>$/.exec(t);
  if (arrayOf) return arraysOf(typeCandidates(context, arrayOf[1], depth + 1) ?? ['1', '2', '3']);
  if (t.startsWith('[') && t.endsWith(']')) {
    const elements = splitTop(t.slice(1, -1), masked.slice(1, -1), ',').map((e) => typeCandidates(context, e.replace(/^[\w$]+\??\s*:\s*/, ''), depth + 1) ?? ['0']);
    const first = `[${elements.map((e) => e[0]).join(', ')}]`;
    const second = `[${elements.map((e) => e[1] ?? e[0]).join(', ')}]`;
    return [...new Set([first, second])];
  }
  if (t.startsWith('{') && t.endsWith('}')) return objectType(context, t.slice(1, -1), masked.slice(1, -1), depth);
  const generic = /^([\w$.]+)\s*<(.*)>$/.exec(t);
  if (generic) {
    const [, outer, inner] = generic;
    const args = splitTop(inner, mask(inner), ',');
    if (outer === 'Record' && args.length === 2) {
      const keys = typeCandidates(context, args[0], depth + 1)?.filter((k) => k.startsWith('"')) ?? ['"a"', '"b"'];
      const values = typeCandidates(context, args[1], depth + 1) ?? ['1'];
      return ['{}', `{ ${keys.slice(0, 2).map((k, i) => `${k}: ${values[i] ?? values[0]}`).join(', ')} }`];
    }
    if (outer === 'Map' && args.length === 2) {
      const k = typeCandidates(context, args[0], depth + 1) ?? ['"a"'];
      const v = typeCandidates(context, args[1], depth + 1) ?? ['1'];
      return ['new Map()', `new Map([[${k[0]}, ${v[0]}], [${k[1] ?? k[0]}, ${v[1] ?? v[0]}]])`];
    }
    if (outer === 'Set' && args.length === 1) {
      const v = typeCandidates(context, args[0], depth + 1) ?? ['1'];
      return ['new Set()', `new Set([${v.slice(0, 3).join(', ')}])`];
    }
    if (outer === 'Partial' || outer === 'Required' || outer === 'Readonly') return typeCandidates(context, args[0], depth + 1);
    return null;
  }
  if (topLevelArrow(t)) {
    const arity = splitTop(t.slice(1, t.indexOf(')')), mask(t.slice(1, t.indexOf(')'))), ',').filter(Boolean).length;
    return arity === 0 ? ['() => 1', '() => true'] : arity === 1 ? ['(x) => x', '(x) => x * 2', '(x) => !x'] : ['(a, b) => a - b', '(a, b) => a + b'];
  }
  if (/^Function$/.test(t)) return CALLBACKS;
  // a class, interface or alias of the file
  for (const [path, cls] of context.classes) {
    if (path === t || path.split('.').pop() === t) return constructionTexts(context, path, cls);
  }
  return declaredType(context, t, depth);
}

function topLevelArrow(t) {
  if (!t.startsWith('(')) return false;
  const close = matchClose(mask(t), 0);
  return /^\s*=>/.test(t.slice(close + 1));
}

function arraysOf(elements) {
  const [a, b = a, c = b] = elements;
  return [`[${a}, ${b}, ${c}]`, '[]', `[${a}]`, `[${c}, ${a}, ${b}]`, `[${b}, ${b}]`];
}

function objectType(context, inner, maskedInner, depth) {
  const members = splitTop(inner, maskedInner, ';').flatMap((part) => splitTop(part, mask(part), ','));
  const fields = [];
  for (const member of members) {
    const index = /^\[\s*[\w$]+\s*:\s*(string|number)\s*\]\s*:\s*(.+)$/.exec(member);
    if (index) {
      const values = typeCandidates(context, index[2], depth + 1) ?? ['1'];
      return ['{}', `{ a: ${values[0]}, b: ${values[1] ?? values[0]} }`];
    }
    const field = /^(?:readonly\s+)?([\w$]+|"[^"]*"|'[^']*')(\?)?\s*:\s*([\s\S]+)$/.exec(member);
    const method = /^([\w$]+)\??\s*\(/.exec(member);
    if (method && !field) continue;
    if (!field) continue;
    const values = typeCandidates(context, field[3], depth + 1) ?? ['1'];
    fields.push({ name: field[1].replace(/^['"]|['"]$/g, ''), optional: Boolean(field[2]), values });
  }
  const render = (pick) => `{ ${fields.map((f) => pick(f)).filter(Boolean).join(', ')} }`.replace('{  }', '{}');
  const out = [render((f) => `${propertyKey(f.name)}: ${f.values[0]}`)];
  out.push(render((f) => (f.optional ? null : `${propertyKey(f.name)}: ${f.values[0]}`)));
  for (const f of fields) {
    for (const value of f.values.slice(1, 4)) {
      out.push(render((g) => `${propertyKey(g.name)}: ${g === f ? value : g.values[0]}`));
    }
  }
  return [...new Set(out)];
}

/** `interface Name { … }` or `type Name = …` of the same file. */
function declaredType(context, name, depth) {
  if (!/^[\w$]+$/.test(name) || !context.source) return null;
  const { masked, source } = context;
  const iface = new RegExp(`\\binterface\\s+${escapeRegExp(name)}\\b[^{]*\\{`).exec(masked);
  if (iface) {
    const open = iface.index + iface[0].length - 1;
    const close = matchClose(masked, open);
    return objectType(context, source.slice(open + 1, close), masked.slice(open + 1, close), depth + 1);
  }
  const alias = new RegExp(`\\btype\\s+${escapeRegExp(name)}\\s*(?:<[^>]*>)?\\s*=`).exec(masked);
  if (alias) {
    const from = alias.index + alias[0].length;
    let level = 0;
    let end = from;
    for (; end < masked.length; end += 1) {
      const c = masked[end];
      if ('([{<'.includes(c)) level += 1;
      else if (')]}>'.includes(c) && masked[end - 1] !== '=') level -= 1;
      if ((c === ';' && level <= 0) || (c === '\n' && level <= 0 && !/^\s*[|&]/.test(masked.slice(end + 1, end + 40)) && masked.slice(from, end).trim())) break;
    }
    return typeCandidates(context, source.slice(from, end), depth + 1);
  }
  const enumeration = new RegExp(`\\benum\\s+${escapeRegExp(name)}\\s*\\{`).exec(masked);
  if (enumeration) {
    const open = enumeration.index + enumeration[0].length - 1;
    const values = [];
    let next = 0;
    for (const member of splitTop(source.slice(open + 1, matchClose(masked, open)), masked.slice(open + 1, matchClose(masked, open)), ',')) {
      const [, init] = member.split('=').map((s) => s?.trim());
      if (init === undefined) values.push(String(next++));
      else {
        const text = canonicalLiteral(init);
        if (text !== undefined) values.push(text);
        if (/^-?\d+$/.test(init)) next = Number(init) + 1;
      }
    }
    return values.length ? values : null;
  }
  return null;
}

// =============================================================================================
// Values as literals

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function propertyKey(key) {
  return IDENTIFIER.test(key) ? key : JSON.stringify(key);
}

/** The expression that reads back to `value` (deepStrictEqual), or undefined when there is none.
 * `approx`: the value is a non-integer number. */
function literal(value) {
  const text = literalText(value, 0, new Set());
  if (text === undefined || text.length > MAX_LITERAL_CHARS) return undefined;
  return { text, approx: typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value) };
}

function literalText(value, depth, seen) {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(value);
    case 'number':
      if (Object.is(value, -0)) return '-0';
      if (Number.isNaN(value)) return 'NaN';
      if (value === Infinity) return 'Infinity';
      if (value === -Infinity) return '-Infinity';
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'string':
      return value.length > MAX_LITERAL_CHARS ? undefined : JSON.stringify(value);
    case 'object':
      break;
    default:
      return undefined; // functions, symbols
  }
  if (value === null) return 'null';
  if (depth > 8 || seen.has(value)) return undefined;
  seen.add(value);
  try {
    return objectLiteralText(value, depth, seen);
  } finally {
    seen.delete(value);
  }
}

function objectLiteralText(value, depth, seen) {
  const prototype = Object.getPrototypeOf(value);
  const inner = (v) => literalText(v, depth + 1, seen);
  if (Array.isArray(value) && prototype === Array.prototype) {
    const keys = Object.keys(value);
    if (keys.length !== value.length) return undefined; // holes or extra properties
    const items = value.map(inner);
    return items.includes(undefined) ? undefined : `[${items.join(', ')}]`;
  }
  if (prototype === Map.prototype) {
    const entries = [...value].map(([k, v]) => [inner(k), inner(v)]);
    if (entries.some(([k, v]) => k === undefined || v === undefined)) return undefined;
    return `new Map([${entries.map(([k, v]) => `[${k}, ${v}]`).join(', ')}])`;
  }
  if (prototype === Set.prototype) {
    const items = [...value].map(inner);
    return items.includes(undefined) ? undefined : `new Set([${items.join(', ')}])`;
  }
  if (prototype !== Object.prototype) return undefined;
  if (Object.getOwnPropertySymbols(value).some((s) => Object.prototype.propertyIsEnumerable.call(value, s))) return undefined;
  const keys = Object.keys(value);
  if (keys.includes('__proto__')) return undefined;
  const pairs = [];
  for (const key of keys) {
    const text = inner(value[key]);
    if (text === undefined) return undefined;
    pairs.push(`${propertyKey(key)}: ${text}`);
  }
  return pairs.length ? `{ ${pairs.join(', ')} }` : '{}';
}

/** An object's public state: own enumerable fields not named `_x` (nor TypeScript-private),
 * with a literal value. */
function publicFields(context, object) {
  if (object === null || typeof object !== 'object') return [];
  const hidden = privateFieldsOf(context, object.constructor);
  const fields = [];
  for (const name of Object.keys(object)) {
    if (name.startsWith('_') || hidden.has(name)) continue;
    let value;
    try {
      value = object[name];
    } catch {
      continue;
    }
    const lit = literal(value);
    if (lit) fields.push({ name, value: lit.text, approx: lit.approx });
  }
  return fields;
}

/** Fields a TypeScript class declares `private` or `protected`. */
function privateFieldsOf(context, cls) {
  if (typeof cls !== 'function') return new Set();
  if (!context.privateFields.has(cls)) {
    const names = new Set();
    const path = classPath(context, cls);
    const block = path ? findBlockOfPath(context, path) : null;
    if (block) {
      const text = context.source.slice(...block);
      for (const m of text.matchAll(/\b(?:private|protected)\s+(?:readonly\s+)?([\w$]+)\s*[?!:=;,)]/g)) names.add(m[1]);
    }
    context.privateFields.set(cls, names);
  }
  return context.privateFields.get(cls);
}

function findBlockOfPath(context, path) {
  let region = [0, context.masked.length];
  for (const segment of path.split('.')) {
    const open = findBlock(context.masked, context.depth, region, segment);
    if (open === null) return null;
    region = [open + 1, matchClose(context.masked, open)];
  }
  return region;
}

function classPath(context, cls) {
  for (const [path, value] of context.classes) if (value === cls) return path;
  return null;
}

// =============================================================================================
// Units

/** What a unit is at runtime: how to call it, or why it cannot be. */
function resolveUnit(context, unit) {
  const notReachable = { note: 'not exported: a test cannot import it' };
  if (!unit.container) {
    const fn = context.exportsMap.get(unit.name);
    if (typeof fn !== 'function') return notReachable;
    if (isClass(fn)) return { note: 'a class, not a function: its constructor and methods are units' };
    return { kind: 'function', fn, self: undefined };
  }
  let holder = context.exportsMap.get(unit.container.split('.')[0]);
  for (const segment of unit.container.split('.').slice(1)) holder = holder?.[segment];
  if (holder === undefined || holder === null) return notReachable;
  if (!isClass(holder)) {
    const fn = holder[unit.name];
    return typeof fn === 'function' ? { kind: 'function', fn, self: holder } : notReachable;
  }
  const cls = holder;
  if (!classPath(context, cls)) context.classes.set(unit.container, cls);
  if (unit.name === 'constructor') return { kind: 'constructor', cls, fn: cls };
  if (unit.name.startsWith('#')) return { note: 'a private (#) method: a test cannot call it' };
  const own = Object.getOwnPropertyDescriptor(cls, unit.name);
  if (own && typeof own.value === 'function') return { kind: 'static', cls, fn: own.value };
  if (own && (own.get || own.set)) return { note: 'a static accessor (get/set), not called as a method' };
  // (a function's own `length` and `name` are not static members: look at the prototype)
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, unit.name);
    if (!descriptor) continue;
    if (typeof descriptor.value === 'function') return { kind: 'method', cls, fn: descriptor.value };
    return { note: 'an accessor (get/set), not called as a method' };
  }
  return { note: 'not a public method of the exported class' };
}

async function exploreUnit(context, index) {
  const unit = context.request.units[index];
  context.unit = index;
  context.ordinal = 0;
  const target = resolveUnit(context, unit);
  if (target.note) return unitResult(unit, 0, target.note, []);
  const remaining = context.request.units.length - index;
  const unitDeadline = Date.now() + Math.max(50, (context.deadline - Date.now()) / remaining);
  const rng = prng(context.seed ^ hash(`${unit.container ?? ''}.${unit.name}`));

  const role = target.kind === 'constructor' ? 'constructor' : 'function';
  const info = parametersOf(context, unit, target.fn, role);
  let receivers = [null];
  if (target.kind === 'method') {
    receivers = await receiverVariants(context, unit, target.cls);
    if (!receivers.length) {
      const name = classPath(context, target.cls) ?? unit.container;
      return unitResult(unit, 0, `could not build a ${name}: every construction tried threw`, []);
    }
  }
  // other units of the file may take instances of its classes: learn how to build them
  for (const param of info.params) await ensureInstanceCandidates(context, param, unit);

  const state = { kept: [], coverage: new Map(), tried: 0, hung: 0, reasons: new Map() };
  const seen = new Set();
  let streak = 0;
  let duplicates = 0;
  for (const candidate of candidates(info, receivers, rng, context)) {
    if (Date.now() > unitDeadline || Date.now() > context.deadline) break;
    if (state.kept.length >= context.maxCases || state.tried >= MAX_TRIES_PER_UNIT) break;
    const args = trimOmitted(candidate.args);
    const key = `${index}|${receiverKey(candidate.receiver)}|${args.join(', ')}`;
    if (seen.has(key)) {
      if (++duplicates > 400) break; // the random phase keeps drawing calls already made
      continue;
    }
    duplicates = 0;
    seen.add(key);
    if (candidate.random && streak >= NO_GAIN_STREAK) break;
    state.tried += 1;
    if (context.blacklist.has(key)) {
      state.hung += 1;
      continue;
    }
    const cutoff = context.cutoffs[index];
    if (cutoff !== undefined && context.ordinal >= cutoff - 1) break;
    const run = await runCase(context, target, unit, candidate.receiver, args, key);
    if (!run.valid) {
      if (run.reason === 'the call timed out' && ++state.hung >= MAX_TIMEOUTS_PER_UNIT) break;
      state.reasons.set(run.reason, (state.reasons.get(run.reason) ?? 0) + 1);
      streak += 1;
      continue;
    }
    if (!addsCoverage(state.coverage, run.covered)) {
      streak += 1;
      continue;
    }
    const kept = await confirm(context, target, unit, candidate.receiver, args, key, run, info);
    if (!kept) {
      streak += 1;
      continue;
    }
    mergeCoverage(state.coverage, run.covered);
    state.kept.push(kept);
    streak = 0;
  }
  return unitResult(unit, state.tried, state.kept.length ? null : emptyNote(state), state.kept);
}

function emptyNote(state) {
  if (state.tried === 0) return 'the budget ran out before any call';
  if (state.hung === state.tried) return 'every call timed out';
  const [reason] = [...state.reasons].sort((a, b) => b[1] - a[1])[0] ?? [];
  return reason ? `no call could be kept: ${reason}` : 'no call could be asserted';
}

function trimOmitted(args) {
  const out = [...args];
  while (out.length && out[out.length - 1] === OMIT) out.pop();
  return out.map((text) => (text === OMIT ? 'undefined' : text));
}

function receiverKey(receiver) {
  if (!receiver) return '';
  return `${receiver.args.join(', ')}|${receiver.calls.map((c) => `${c.method}(${c.args.join(', ')})`).join(';')}`;
}

/** Candidate calls: documented examples, the first candidate of every parameter, each
 * parameter's candidates with the others' first, every receiver variant, then seeded random
 * combinations. */
function* candidates(info, receivers, rng, context) {
  const { params, examples } = info;
  const firsts = params.map((p) => p.candidates[0] ?? 'undefined');
  for (const example of examples) {
    yield { receiver: receivers[0], args: params.map((_, i) => example[i] ?? OMIT).concat(example.slice(params.length)) };
  }
  yield { receiver: receivers[0], args: firsts };
  // states built by other methods come before odd arguments (push before pop)
  for (const receiver of receivers.slice(1)) yield { receiver, args: firsts };
  for (let i = 0; i < params.length; i += 1) {
    for (const text of params[i].candidates.slice(1, 32)) {
      yield { receiver: receivers[0], args: firsts.map((first, j) => (j === i ? text : first)) };
    }
  }
  for (const receiver of receivers.slice(1)) {
    if (params.length) yield { receiver, args: params.map((p) => p.candidates[1] ?? p.candidates[0] ?? 'undefined') };
  }
  if (!params.length && receivers.length === 1) return;
  for (;;) {
    const receiver = receivers[Math.floor(rng() * receivers.length)];
    const args = params.map((p) => pickCandidate(p, rng, context));
    yield { receiver, args, random: true };
  }
}

/** Earlier candidates are likelier; string parameters sometimes get a composition of the short
 * strings of the file (a parser meets sequences of its own tokens). */
function pickCandidate(param, rng, context) {
  const list = param.candidates;
  if (!list.length) return 'undefined';
  const stringy = list.slice(0, 4).some((t) => kindOfText(t) === 'string');
  if (stringy && context.fileStrings.length && rng() < 0.3) {
    const pieces = Math.floor(rng() * 5) + 1;
    let text = '';
    for (let i = 0; i < pieces; i += 1) text += context.fileStrings[Math.floor(rng() * context.fileStrings.length)];
    return JSON.stringify(text);
  }
  return list[Math.floor(list.length * rng() * rng())];
}

// ---------------------------------------------------------------------------------------------
// Receivers: how the object a method is called on is built

async function workingConstructions(context, cls) {
  if (context.constructions.has(cls)) return context.constructions.get(cls);
  context.constructions.set(cls, []); // no recursion through parameters of the class's own type
  const path = classPath(context, cls);
  const unit = { name: 'constructor', container: path };
  const info = parametersOf(context, unit, cls, 'constructor');
  for (const param of info.params) await ensureInstanceCandidates(context, param);
  const found = [];
  let attempts = 0;
  for (const candidate of candidates(info, [null], prng(context.seed ^ hash(`${path}#new`)), context)) {
    if (found.length >= 3 || attempts >= 40) break;
    attempts += 1;
    const args = trimOmitted(candidate.args);
    const key = `new|${path}|${args.join(', ')}`;
    if (context.blacklist.has(key) || found.some((f) => f.join() === args.join())) continue;
    const ok = await guarded(context, key, async () => {
      Reflect.construct(cls, evaluate(context.scope, args));
    });
    context.coverage.take();
    if (ok.ok) found.push(args);
  }
  context.constructions.set(cls, found);
  return found;
}

/** Parameters typed or named after a class of the file: build such instances once, then offer
 * them as candidates. */
async function ensureInstanceCandidates(context, param, unit) {
  const wanted = [];
  for (const [path, cls] of context.classes) {
    const short = path.split('.').pop();
    const typeNames = (param.type ?? '').split(/[^\w$.]+/);
    const sameClass = unit?.container === path && /^(?:other|that|rhs|to|from|target|source|destination|dest)$/i.test(param.name);
    if (typeNames.includes(path) || typeNames.includes(short) || param.name.toLowerCase().includes(short.toLowerCase()) || sameClass) wanted.push([path, cls]);
  }
  for (const [path, cls] of wanted) {
    await workingConstructions(context, cls);
    const texts = constructionTexts(context, path, cls);
    const typed = (param.type ?? '').split(/[^\w$.]+/).some((n) => n === path || n === path.split('.').pop());
    const sameClass = unit?.container === path && !param.type;
    const others = param.candidates.filter((t) => !texts.includes(t));
    const at = typed || sameClass ? 0 : Math.min(3, others.length);
    param.candidates.splice(0, param.candidates.length, ...others.slice(0, at), ...texts, ...others.slice(at));
  }
}

async function receiverVariants(context, unit, cls) {
  const constructions = await workingConstructions(context, cls);
  if (!constructions.length) return [];
  const variants = constructions.map((args) => ({ args, calls: [] }));
  // a short prelude of another method first (push before pop)
  const methods = [];
  for (const name of Object.getOwnPropertyNames(cls.prototype)) {
    if (name === 'constructor' || name === unit.name || name.startsWith('_')) continue;
    const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, name);
    if (typeof descriptor.value !== 'function' || descriptor.value.constructor?.name === 'AsyncFunction') continue;
    methods.push(name);
  }
  for (const args of constructions) {
    for (const name of methods.slice(0, 8)) {
      const info = parametersOf(context, { name, container: unit.container }, cls.prototype[name], 'function');
      const first = trimOmitted(info.params.map((p) => p.candidates[0] ?? 'undefined'));
      const second = trimOmitted(info.params.map((p) => p.candidates[1] ?? p.candidates[0] ?? 'undefined'));
      variants.push({ args, calls: [{ method: name, args: first }] });
      variants.push({ args, calls: [{ method: name, args: first }, { method: name, args: second }] });
    }
  }
  return variants;
}

// ---------------------------------------------------------------------------------------------
// Running one call

/** Run user code under the watchdog; never throws. */
async function guarded(context, key, action) {
  context.ordinal += 1;
  context.guard.begin(context.unit, context.ordinal, key, context.callTimeout);
  try {
    return { ok: true, value: await action() };
  } catch (error) {
    return { ok: false, error };
  } finally {
    context.guard.end();
  }
}

const TIMED_OUT = Symbol('timed out');

async function settle(context, value) {
  if (!value || (typeof value !== 'object' && typeof value !== 'function') || typeof value.then !== 'function') {
    return { awaited: false, value };
  }
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), context.callTimeout);
  });
  try {
    const settled = await Promise.race([Promise.resolve(value).then((v) => ({ v }), (e) => ({ e })), timeout]);
    if (settled === TIMED_OUT) return { awaited: true, timedOut: true };
    if ('e' in settled) return { awaited: true, thrown: settled.e };
    return { awaited: true, value: settled.v };
  } finally {
    clearTimeout(timer);
  }
}

/** Build the receiver, call the unit, observe: outcome, coverage of the call alone, mutations. */
async function runCase(context, target, unit, receiverSpec, args, key) {
  const observed = { valid: false, reason: null };
  const run = await guarded(context, key, async () => {
    let receiver;
    if (receiverSpec) {
      receiver = Reflect.construct(target.cls, evaluate(context.scope, receiverSpec.args));
      for (const call of receiverSpec.calls) {
        context.guard.restart(context.callTimeout);
        const result = receiver[call.method](...evaluate(context.scope, call.args));
        if (result && typeof result.then === 'function') throw new Error('async prelude');
      }
    }
    const values = evaluate(context.scope, args);
    const argsBefore = values.map((v) => (v !== null && typeof v === 'object' ? literal(v)?.text : undefined));
    const receiverBefore = receiver ? JSON.stringify(publicFields(context, receiver)) : null;
    context.coverage.take(); // only the call itself counts
    context.guard.restart(context.callTimeout);
    const started = performance.now();
    let outcome;
    try {
      const returned =
        target.kind === 'constructor'
          ? Reflect.construct(target.cls, values)
          : target.kind === 'method'
            ? target.fn.apply(receiver, values)
            : target.kind === 'static'
              ? target.fn.apply(target.cls, values)
              : target.fn.apply(target.self, values);
      outcome = await settle(context, returned);
    } catch (error) {
      outcome = { awaited: false, thrown: error };
    }
    return { receiver, values, argsBefore, receiverBefore, outcome, duration: performance.now() - started };
  });
  observed.covered = context.coverage.take();
  if (!run.ok) {
    observed.reason = receiverSpec ? 'building the receiver threw' : 'the call failed';
    return observed;
  }
  const { outcome } = run.value;
  if (outcome.timedOut) return { ...observed, reason: 'the call timed out' };
  if ('thrown' in outcome) {
    const error = outcome.thrown;
    if (error instanceof context.exitAttempt) return { ...observed, reason: 'the call tried to exit the process' };
    if (!(error instanceof Error)) return { ...observed, reason: 'the call threw something that is not an Error' };
    if (error instanceof RangeError && /call stack/i.test(error.message)) return { ...observed, reason: 'the call exhausted the stack' };
  }
  return { ...observed, valid: true, ...run.value };
}

/** The case's observations as the contract writes them (literals), or null. */
function describe(context, target, run) {
  const { outcome } = run;
  const description = { awaited: Boolean(outcome.awaited), outcome: null, argumentsAfter: [], receiverAfter: null };
  if ('thrown' in outcome) {
    const error = outcome.thrown;
    const { type, builtin } = errorType(context, error);
    description.outcome = { kind: 'raised', type, builtin, message: String(error.message ?? '') };
  } else if (target.kind === 'constructor') {
    description.outcome = { kind: 'returned_object', type: classPath(context, target.cls), fields: publicFields(context, outcome.value) };
    description.receiverAfter = description.outcome.fields;
  } else {
    description.outcome = returnedOutcome(context, outcome.value);
  }
  run.values.forEach((value, index) => {
    const before = run.argsBefore[index];
    if (before === undefined) return;
    const after = literal(value);
    if (after && after.text !== before) description.argumentsAfter.push({ index, value: after.text, approx: false });
  });
  if (run.receiver && target.kind === 'method') {
    const fields = publicFields(context, run.receiver);
    if (JSON.stringify(fields) !== run.receiverBefore) description.receiverAfter = fields;
  }
  return description;
}

function returnedOutcome(context, value) {
  if (value !== null && typeof value === 'object') {
    const path = classPath(context, value.constructor);
    if (path && Object.getPrototypeOf(value) === value.constructor.prototype) {
      return { kind: 'returned_object', type: path, fields: publicFields(context, value) };
    }
  }
  const lit = literal(value);
  if (lit) return { kind: 'returned', value: lit.text, approx: lit.approx };
  return { kind: 'returned_unstable', type: typeof value };
}

const BUILTIN_ERRORS = ['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError'];

/** An exported error class of the file, else the nearest builtin error class. */
function errorType(context, error) {
  const path = classPath(context, error.constructor);
  if (path) return { type: path, builtin: false };
  for (let proto = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    const name = proto.constructor?.name;
    if (BUILTIN_ERRORS.includes(name) && globalThis[name] === proto.constructor) return { type: name, builtin: true };
  }
  return { type: 'Error', builtin: true };
}

/** Replay the call from scratch (fresh receiver, fresh arguments) and keep what both runs agree
 * on; results that differ are asserted by type only. */
async function confirm(context, target, unit, receiverSpec, args, key, first, info) {
  const one = describe(context, target, first);
  // A quick call is replayed a few times: a die roll agrees with itself once in six.
  const replays = first.duration < 20 ? 4 : 1;
  let outcome = one.outcome;
  let argumentsAfter = one.argumentsAfter;
  let receiverAfter = one.receiverAfter;
  for (let i = 0; i < replays && outcome; i += 1) {
    waitForClockTick();
    const replay = await runCase(context, target, unit, receiverSpec, args, key);
    if (!replay.valid) return null;
    const two = describe(context, target, replay);
    outcome = agree(outcome, two.outcome);
    argumentsAfter = argumentsAfter.filter((a) => two.argumentsAfter.some((b) => b.index === a.index && b.value === a.value));
    receiverAfter = receiverAfter && two.receiverAfter
      ? receiverAfter.filter((f) => two.receiverAfter.some((g) => g.name === f.name && g.value === f.value))
      : null;
  }
  if (!outcome) return null;
  const names = (params, values) => values.map((value, i) => ({ name: params[i]?.name ?? params[params.length - 1]?.name ?? `arg${i}`, value, keyword: false }));
  let receiver = null;
  if (receiverSpec) {
    const ctor = parametersOf(context, { name: 'constructor', container: unit.container }, target.cls, 'constructor');
    receiver = {
      class: classPath(context, target.cls),
      arguments: names(ctor.params, receiverSpec.args),
      calls: receiverSpec.calls.map((call) => ({
        method: call.method,
        arguments: names(parametersOf(context, { name: call.method, container: unit.container }, target.cls.prototype[call.method], 'function').params, call.args),
      })),
    };
  }
  return {
    receiver,
    static: target.kind === 'static',
    arguments: names(info.params, args),
    awaited: one.awaited,
    collect: null,
    outcome,
    arguments_after: argumentsAfter,
    receiver_after: receiverAfter && receiverAfter.length ? receiverAfter : null,
  };
}

function agree(one, two) {
  if (JSON.stringify(one) === JSON.stringify(two)) return one;
  const valueKinds = ['returned', 'returned_unstable'];
  if (valueKinds.includes(one.kind) && valueKinds.includes(two.kind)) {
    return { kind: 'returned_unstable', type: one.type ?? typeFromLiteral(one.value) };
  }
  if (one.kind === 'returned_object' && two.kind === 'returned_object' && one.type === two.type) {
    return { ...one, fields: one.fields.filter((f) => two.fields.some((g) => g.name === f.name && g.value === f.value)) };
  }
  return null; // raised once, returned once; or a different error: not asserted
}

function typeFromLiteral(text) {
  const kind = kindOfText(text);
  if (kind === 'number' || kind === 'string' || kind === 'boolean' || kind === 'bigint') return kind;
  if (text === 'undefined') return 'undefined';
  return 'object';
}

/** Time-based results (Date.now()) only differ once the clock has moved. */
function waitForClockTick() {
  const start = Date.now();
  while (Date.now() - start < 2) {
    // a couple of milliseconds
  }
}

// =============================================================================================
// Small helpers

/** mulberry32: the explorer's own seeded randomness (never Math.random). */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(text) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i += 1) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

// The entry point sits last: the constants above must be initialised before any code runs.
if (isMainThread) {
  await supervise(process.argv[2], process.argv[3]);
} else {
  await explore(workerData);
}
