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
import { readFileSync, writeFileSync, renameSync, appendFileSync } from 'node:fs';
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
const FULL_STREAK = 12; // calls without gain that end a unit whose blocks are all reached
const MAX_NOVEL = 2; // calls kept per unit for a new kind of result alone


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
  if (process.env.EXPLORE_DEBUG) appendFileSync(process.env.EXPLORE_DEBUG, `${text}\n`);
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
  const extents = new Map(); // function key -> [start, end] of the whole function
  return {
    extents,
    /** Coverage since the last take (V8 resets counts): function key -> covered intervals. */
    take() {
      const answer = post('Profiler.takePreciseCoverage');
      const covered = new Map();
      for (const script of answer?.result ?? []) {
        if (!isSource(script.url)) continue;
        for (const fn of script.functions) {
          const intervals = coveredIntervals(fn.ranges);
          const key = `${fn.functionName}@${fn.ranges[0].startOffset}`;
          if (!extents.has(key)) extents.set(key, [fn.ranges[0].startOffset, fn.ranges[0].endOffset]);
          if (intervals.length) covered.set(key, intervals);
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

/** Every function the unit's calls entered is covered from end to end by the kept calls: no
 * block is left for more calls to find. */
function fullyCovered(kept, touched, extents) {
  for (const fn of touched) {
    const extent = extents.get(fn);
    const intervals = kept.get(fn);
    if (!extent || !intervals || intervals.length !== 1) return false;
    if (intervals[0][0] > extent[0] || intervals[0][1] < extent[1]) return false;
  }
  return touched.size > 0;
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
  const regexes = regexLiterals(source, masked);
  const constants = moduleConstants(source, masked);
  // short pieces a parser of the file meets: its strings, codes of its constants, regex matches
  const pieces = [
    ...stringLiterals(source).filter((text) => text.length <= 8),
    ...[...constants.values()].flatMap((c) => c.strings.filter((text) => text.length <= 8)),
    ...regexes.flatMap((r) => regexSamples(r.regex).matches.slice(0, 2)),
  ];
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
    fileStrings: [...new Set(pieces)].slice(0, 60),
    regexes,
    constants,
    argPool: new Map(), // parameter name -> argument texts of kept calls (lower case)
    unitArgs: new Map(), // unit name -> first-argument texts of kept calls that returned
    returnPool: [], // arrays and objects that kept calls returned (inputs of the next unit)
    receiverStates: new Map(), // class -> method -> calls that succeed on a fresh object
    keptCalls: new Map(), // "Class.method" -> argument lists of kept calls that did not throw
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
  const body = bodyLiterals(code ?? '', parsed.map((p) => p.name), context);
  const params = parsed
    .filter((p) => p.name !== 'this')
    .map((p, index) => {
      const param = { ...p };
      param.candidates = candidatesFor(context, unit, param, index, doc, body);
      return param;
    });
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
  // calls in @example blocks, and calls written in the prose (`evaluate('x * 2', {x: 4}) === 8`)
  const examples = [...text.split(/@example/).slice(1).map((part) => part.split(/\n\s*@\w/)[0]), text.split(/\n\s*@\w/)[0]];
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

function bodyLiterals(code, names, context) {
  const specific = new Map(names.map((name) => [name, { numbers: [], strings: [], lengths: [], fields: new Map(), elementFields: new Map() }]));
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
  const aliases = new Map(); // loop variable -> the parameter it walks (`for (const task of tasks)`)
  for (const m of code.matchAll(/\bfor\s*\(\s*(?:const|let|var)\s+([\w$]+)\s+of\s+([\w$]+)\s*\)/g)) {
    if (specific.has(m[2])) aliases.set(m[1], m[2]);
  }
  const fieldsOf = (base) => {
    if (specific.has(base)) return specific.get(base).fields;
    if (aliases.has(base)) return specific.get(aliases.get(base)).elementFields;
    return null;
  };
  const note = (subject, text, isLength, late = false) => {
    const value = literalValue(text);
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return;
    const [base, ...path] = subject.split('.');
    const bucket = specific.get(base);
    const fields = fieldsOf(base);
    if (isLength && typeof value === 'number') {
      all.lengths.push(value);
      bucket?.lengths.push(value);
    } else if (fields && path.length === 1 && path[0] !== 'length') {
      const field = fields.get(path[0]) ?? [];
      // a default (`form.name ?? ''`) is what an absent field reads as: tried after the others
      if (late) (field.late ??= []).push(value);
      else field.push(value);
      fields.set(path[0], field);
    } else if (bucket && path.length === 0) {
      (typeof value === 'number' ? bucket.numbers : bucket.strings).push(value);
    }
    (typeof value === 'number' ? all.numbers : all.strings).push(value);
  };
  const operator = '===|!==|==|!=|<=|>=|<|>|%';
  const subject = String.raw`[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*`;
  const value = `${STRING_LITERAL}|${NUMBER_LITERAL}`;
  for (const m of code.matchAll(new RegExp(`(${subject})\\s*(?:\\?\\?|\\|\\|)\\s*(${value})`, 'g'))) note(m[1], m[2], false, true);
  for (const m of code.matchAll(new RegExp(`(${subject})\\s*(?:${operator})\\s*(${value})`, 'g'))) note(m[1], m[2], m[1].endsWith('.length'));
  for (const m of code.matchAll(new RegExp(`(${value})\\s*(?:${operator})\\s*(${subject})`, 'g'))) note(m[2], m[1], m[2].endsWith('.length'));
  for (const m of code.matchAll(new RegExp(`(${subject})\\.(?:startsWith|endsWith|includes|indexOf|split|has|get)\\(\\s*(${STRING_LITERAL})`, 'g'))) note(m[1], m[2], false);
  for (const m of code.matchAll(new RegExp(`\\bcase\\s+(${value})\\s*:`, 'g'))) note('', m[1], false);
  // every field the body reads from a parameter (or from the items of one) is worth setting
  for (const m of code.matchAll(/(?<![\w$.])([A-Za-z_$][\w$]*)\.([A-Za-z_$][\w$]*)(?!\s*\()/g)) {
    const fields = fieldsOf(m[1]);
    if (fields && m[2] !== 'length' && !fields.has(m[2])) fields.set(m[2], []);
  }
  // constants of the module the body uses: their keys and items are the codes it expects
  for (const [name, constant] of context?.constants ?? []) {
    if (!new RegExp(`(?<![\\w$.])${escapeRegExp(name)}(?![\\w$])`).test(code)) continue;
    all.strings.unshift(...constant.strings.slice(0, 12));
    all.numbers.push(...constant.numbers.slice(0, 8));
  }
  // every number (loops, divisions, thresholds) and every short string
  for (const m of code.matchAll(/(?<![\w$.])\d+(?:\.\d+)?(?![\w$])/g)) all.numbers.push(Number(m[0]));
  // short strings without spaces: tokens, keys, separators (messages are not inputs)
  for (const text of stringLiterals(code)) if (text.length <= 24 && !/\s/.test(text)) all.strings.push(text);
  const unique = (list) => [...new Set(list)];
  for (const bucket of specific.values()) {
    bucket.numbers = unique(bucket.numbers);
    bucket.strings = unique(bucket.strings);
    bucket.lengths = unique(bucket.lengths);
  }
  // what the body does with a parameter tells its kind when neither a type nor the name does
  for (const [name, bucket] of specific) {
    const n = escapeRegExp(name);
    if (new RegExp(`typeof\\s+${n}\\s*[!=]==?\\s*['"]string|\\.test\\(\\s*${n}\\s*\\)|(?<![\\w$.])${n}\\.(?:trim|toLowerCase|toUpperCase|split|replace|charAt|charCodeAt|startsWith|endsWith|padStart|padEnd|match)\\(`).test(code)) bucket.kind = 'string';
    else if (new RegExp(`typeof\\s+${n}\\s*[!=]==?\\s*['"]number|Number\\.is(?:Integer|Finite|NaN|SafeInteger)\\(\\s*${n}\\s*\\)|Math\\.\\w+\\(\\s*${n}\\b`).test(code)) bucket.kind = 'number';
    else if (new RegExp(`(?<![\\w$.])${n}\\.(?:map|filter|reduce|forEach|some|every|push|slice|indexOf)\\(|for\\s*\\(\\s*(?:const|let|var)\\s+[\\w$]+\\s+of\\s+${n}\\s*\\)`).test(code)) bucket.kind = 'array';
  }
  const regexes = bodyRegexes(code, context);
  return {
    specific,
    numbers: unique(all.numbers).slice(0, 16),
    strings: unique(all.strings).slice(0, 24),
    lengths: unique(all.lengths).slice(0, 6),
    regexes,
  };
}

/** Strings shaped by the regular expressions the body tests (its own literals and the module's
 * constants it names): each one's matches and misses, and one string matching them all. */
function bodyRegexes(code, context) {
  const used = regexLiterals(code, mask(code)).map((r) => r.regex);
  for (const r of context?.regexes ?? []) {
    if (r.name && new RegExp(`(?<![\\w$.])${escapeRegExp(r.name)}(?![\\w$])`).test(code)) used.push(r.regex);
  }
  const samples = used.map(regexSamples);
  const matches = [];
  const misses = [];
  for (let i = 0; i < 3; i += 1) {
    for (const sample of samples) {
      if (sample.matches[i] !== undefined) matches.push(sample.matches[i]);
      if (sample.misses[i] !== undefined) misses.push(sample.misses[i]);
    }
  }
  // several tests on one string (a password rule set): the first matches of each, joined, and
  // that padded with distinct letters to the lengths the body compares
  // (and each one left out: a rule that must not match, like three repeated characters)
  const combined = [];
  if (samples.length > 1) {
    const groups = [samples, ...samples.map((_, k) => samples.filter((__, j) => j !== k))];
    const raw = [];
    for (const group of groups.slice(0, 7)) {
      const joined = group.map((sample) => sample.matches[0] ?? '').join('');
      raw.push(joined);
      combined.push(joined.length < 8 ? joined + 'bcdefghijklmnopq'.slice(0, 8 - joined.length) : joined);
    }
    combined.push(...raw);
  }
  const unique = (list) => [...new Set(list)].slice(0, 24);
  return { matches: unique(matches), misses: unique(misses), combined: unique(combined) };
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
// Regular expressions of the file: strings that match them and strings that do not

/** Regular-expression literals: their blanked body in masked text sits between two slashes. */
function regexLiterals(source, masked) {
  const found = [];
  for (let i = 0; i < masked.length; i += 1) {
    if (masked[i] !== '/' || source[i + 1] === '/' || source[i + 1] === '*') continue;
    let j = i + 1;
    while (j < masked.length && masked[j] === ' ' && source[j] !== '\n') j += 1;
    if (masked[j] !== '/' || j === i + 1 || !source.slice(i + 1, j).trim()) continue;
    const flags = /^[a-z]*/.exec(source.slice(j + 1))[0];
    try {
      const regex = new RegExp(source.slice(i + 1, j), flags.replace(/[gy]/g, ''));
      const name = /(?:const|let|var)\s+([\w$]+)\s*=\s*$/.exec(source.slice(Math.max(0, i - 80), i))?.[1] ?? null;
      found.push({ at: i, regex, name });
    } catch {
      // not a regular expression after all
    }
    i = j + flags.length;
  }
  return found;
}

const PICKS = 'aA0_ -.@x!Z9';

/** A few strings that match `regex` (shortest first) and a few that do not. */
function regexSamples(regex) {
  const matches = [];
  let tree;
  try {
    tree = parseRegex(regex.source);
  } catch {
    return { matches, misses: [] };
  }
  for (let variant = 0; variant < 3; variant += 1) {
    let text;
    try {
      text = generate(tree, variant, []);
    } catch {
      continue;
    }
    if (text.length <= 200 && regex.test(text) && !matches.includes(text)) matches.push(text);
    if (regex.flags.includes('i') && regex.test(text.toUpperCase()) && !matches.includes(text.toUpperCase())) matches.push(text.toUpperCase());
  }
  const misses = [];
  for (const text of matches.slice(0, 2).flatMap((m) => [m.slice(1), `${m}!`, `!${m}`, m.slice(0, -1), '', ...PICKS])) {
    if (!regex.test(text) && !misses.includes(text)) misses.push(text);
  }
  return { matches, misses: misses.slice(0, 3) };
}

/** A small parser for the common part of the syntax: sequences, alternatives, groups, classes,
 * escapes, quantifiers and back references. */
function parseRegex(pattern) {
  let i = 0;
  const alternatives = () => {
    const options = [sequence()];
    while (pattern[i] === '|') {
      i += 1;
      options.push(sequence());
    }
    return { t: 'alt', options };
  };
  let groups = 0;
  const sequence = () => {
    const items = [];
    while (i < pattern.length && pattern[i] !== '|' && pattern[i] !== ')') {
      const atom = atomAt();
      if (!atom) continue;
      const [min, max] = quantifier();
      items.push({ atom, min, max });
    }
    return items;
  };
  const atomAt = () => {
    const c = pattern[i];
    if (c === '^' || c === '$') {
      i += 1;
      return null;
    }
    if (c === '(') {
      i += 1;
      let capturing = true;
      if (pattern[i] === '?') {
        capturing = pattern[i + 1] === '<' && pattern[i + 2] !== '=' && pattern[i + 2] !== '!';
        const lookaround = /^\?(?:[=!]|<[=!])/.test(pattern.slice(i));
        i = capturing ? pattern.indexOf('>', i) + 1 : i + (pattern[i + 1] === '<' ? 3 : 2);
        if (lookaround) {
          alternatives();
          i += 1;
          return null; // lookarounds are left to chance
        }
      }
      const index = capturing ? ++groups : 0;
      const node = alternatives();
      i += 1;
      return { t: 'group', node, index };
    }
    if (c === '[') return charClass();
    if (c === '.') {
      i += 1;
      return { t: 'set', chars: ['a', 'x', '0'] };
    }
    if (c === '\\') return escape(false);
    i += 1;
    return { t: 'set', chars: [c] };
  };
  const escape = (inClass) => {
    const e = pattern[i + 1];
    i += 2;
    const classes = { d: ['0', '5', '9'], w: ['a', 'Z', '_'], s: [' ', '\t'], D: ['a', '-'], W: ['!', ' '], S: ['a', '0'] };
    if (classes[e]) return { t: 'set', chars: classes[e] };
    if (e === 'b' && !inClass) return null;
    if (e === 'B' && !inClass) return null;
    if (/[1-9]/.test(e) && !inClass) return { t: 'ref', n: Number(e) };
    const controls = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', 0: '\0' };
    if (controls[e]) return { t: 'set', chars: [controls[e]] };
    if (e === 'u' || e === 'x') {
      const hex = /^[0-9a-fA-F]+/.exec(pattern.slice(i, i + (e === 'u' ? 4 : 2)))[0];
      i += hex.length;
      return { t: 'set', chars: [String.fromCharCode(parseInt(hex, 16))] };
    }
    return { t: 'set', chars: [e] };
  };
  const charClass = () => {
    i += 1;
    const negated = pattern[i] === '^';
    if (negated) i += 1;
    const chars = [];
    while (i < pattern.length && pattern[i] !== ']') {
      let from;
      if (pattern[i] === '\\') from = escape(true).chars;
      else from = [pattern[i++]];
      if (pattern[i] === '-' && pattern[i + 1] !== ']' && from.length === 1) {
        i += 1;
        const to = pattern[i] === '\\' ? escape(true).chars[0] : pattern[i++];
        const [a, b] = [from[0].charCodeAt(0), to.charCodeAt(0)];
        chars.push(from[0], String.fromCharCode(Math.floor((a + b) / 2)), to);
      } else chars.push(...from);
    }
    i += 1;
    if (!negated) return { t: 'set', chars };
    const rejected = new RegExp(`[${pattern.slice(0, 0)}${chars.map((c) => c.replace(/[\]\\^-]/g, '\\$&')).join('')}]`);
    return { t: 'set', chars: [...PICKS].filter((c) => !rejected.test(c)) };
  };
  const quantifier = () => {
    const c = pattern[i];
    let range = [1, 1];
    if (c === '*') range = [0, Infinity];
    else if (c === '+') range = [1, Infinity];
    else if (c === '?') range = [0, 1];
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (!m) return range;
      i += m[0].length - 1;
      range = [Number(m[1]), m[2] ? (m[3] ? Number(m[3]) : Infinity) : Number(m[1])];
    } else return range;
    i += 1;
    if (pattern[i] === '?') i += 1; // lazy
    return range;
  };
  const tree = alternatives();
  if (i < pattern.length) throw new Error('unsupported');
  return tree;
}

/** Variant 0: fewest repetitions and first choices; higher variants repeat more and pick others. */
function generate(node, variant, captured) {
  if (node.t === 'alt') {
    const option = node.options[variant % node.options.length];
    return option.map((item) => {
      const count = variant === 0 ? item.min : Math.min(item.max, item.min + (variant === 1 ? 2 : 4));
      let text = '';
      for (let k = 0; k < Math.min(count, 60); k += 1) text += generate(item.atom, variant + k, captured);
      return text;
    }).join('');
  }
  if (node.t === 'group') {
    const text = generate(node.node, variant, captured);
    if (node.index) captured[node.index] = text;
    return text;
  }
  if (node.t === 'ref') return captured[node.n] ?? '';
  if (!node.chars.length) throw new Error('empty class');
  return node.chars[(variant * (node.chars.length - 1)) % node.chars.length];
}

/** Top-level constants of the module: the keys of object literals and the items of arrays and
 * sets (codes a body looks up with `LEVELS[task.level]`). */
function moduleConstants(source, masked) {
  const constants = new Map();
  const depth = depths(masked);
  for (const m of masked.matchAll(/\b(?:const|let|var)\s+([\w$]+)\s*=\s*(?:new\s+(?:Set|Map)\s*\(\s*)?([[{])/g)) {
    const open = m.index + m[0].length - 1;
    if (depth[m.index] !== 0) continue;
    const close = matchClose(masked, open);
    const inner = source.slice(open + 1, close);
    const strings = stringLiterals(inner);
    if (m[2] === '{') {
      const innerMasked = masked.slice(open + 1, close);
      for (const k of innerMasked.matchAll(/(?:^|[,{]\s*)([A-Za-z_$][\w$]*)\s*:/g)) strings.push(k[1]);
    }
    const numbers = [...mask(inner).matchAll(/(?<![\w$.])-?\d+(?:\.\d+)?(?![\w$])/g)].map((n) => Number(n[0]));
    constants.set(m[1], { strings: [...new Set(strings)], numbers: [...new Set(numbers)] });
  }
  return constants;
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
  const bodyKind = body.specific.get(param.name)?.kind ?? null;
  const nameKind = bodyKind ?? kindOfName(param.name);
  if (!kinds.size && nameKind) kinds.add(nameKind);
  const accepts = (kind) => !kinds.size || kinds.has(kind) || (kind === 'string' && kinds.has('array') && false);

  // values other units' kept calls passed to a parameter of the same name
  add((context.argPool.get(param.name.toLowerCase()) ?? []).slice(0, 6));
  // literals the body compares this parameter with, then its fields and lengths
  const own = body.specific.get(param.name);
  if (own) {
    if (accepts('number')) add(own.numbers.flatMap(around));
    if (accepts('string')) add(own.strings.flatMap(stringsAround));
    if (accepts('string')) add(own.lengths.flatMap((k) => lengthStrings(k)));
    if (accepts('array')) add(own.lengths.flatMap((k) => lengthArrays(k)));
    if (own.fields.size && (accepts('object') || kinds.has('object'))) {
      param.fields = fieldCandidates(context, own.fields, body);
      add(objectsFromFields(param.fields));
    }
    if (own.elementFields.size && (accepts('array') || kinds.has('array'))) {
      param.elementFields = fieldCandidates(context, own.elementFields, body);
      add(objectsFromFields(param.elementFields).flatMap((o, i, list) => [`[${o}]`, `[${o}, ${list[(i + 1) % list.length]}]`]).slice(0, 8));
    }
  }
  // strings shaped by the regular expressions the body tests
  if (accepts('string') && (!kinds.size || kinds.has('string') || nameKind === 'string')) {
    const { matches, misses, combined } = body.regexes;
    add([...combined.slice(0, 6), ...matches.slice(0, 8), ...misses.slice(0, 4), ...combined.slice(6)].map((t) => JSON.stringify(t)));
  }
  // what earlier units returned (tokens for the parser, records for the formatter)
  if (accepts('array') || accepts('object')) {
    add(context.returnPool.filter((text) => accepts(kindOfText(text))).slice(-4));
  }
  if (param.keys) {
    param.fields = fieldCandidates(context, new Map(param.keys.map((k) => [k, []])), body);
    add(objectsFromFields(param.fields));
    add(['{}']);
  }
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

/** Candidate texts for each field the body reads: the literals it compares the field with,
 * values other units took under that name, then values typical of the name. */
function fieldCandidates(context, fields, body) {
  const out = new Map();
  for (const [field, values] of fields) {
    const texts = values.map((v) => literal(v)?.text).filter(Boolean);
    const lower = field.toLowerCase();
    const late = (values.late ?? []).map((v) => literal(v)?.text).filter(Boolean);
    texts.push(...(context.argPool.get(lower) ?? []).slice(0, 4));
    for (const [unitName, args] of context.unitArgs) {
      if (lower.length >= 4 && unitName.toLowerCase().includes(lower)) texts.push(...args.slice(0, 4));
    }
    // a regular expression the module names like the field (EMAIL for email)
    for (const r of context.regexes) {
      if (r.name && lower.length >= 3 && r.name.toLowerCase().replace(/_/g, '').includes(lower)) {
        const { matches, misses } = regexSamples(r.regex);
        texts.unshift(...matches.slice(0, 2).map((t) => JSON.stringify(t)));
        texts.push(...misses.slice(0, 1).map((t) => JSON.stringify(t)));
      }
    }
    texts.push(...late);
    const kind = kindOfName(field);
    if (kind === 'string' || (!kind && !texts.length)) texts.push(...body.strings.slice(0, 4).map((t) => JSON.stringify(t)));
    texts.push(...(BY_KIND[kind] ?? ['1', '"a"', 'true']).slice(0, 3));
    out.set(field, [...new Set(texts)].slice(0, 12));
  }
  return out;
}

function objectsFromFields(fields) {
  const base = [...fields.keys()].map((f) => [f, fields.get(f)[0]]);
  const render = (pairs) => `{ ${pairs.map(([k, v]) => `${propertyKey(k)}: ${v}`).join(', ')} }`.replace('{  }', '{}');
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
  return (context.constructions.get(cls) ?? []).slice(0, 4).map((args) => `new ${path}(${args.filter((t) => t !== OMIT).join(', ')})`);
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
  // getters of the file's classes (`get size()`) are public state too, read like fields
  for (let proto = Object.getPrototypeOf(object); proto && classPath(context, proto.constructor); proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (!descriptor.get || name.startsWith('_') || hidden.has(name) || fields.some((f) => f.name === name)) continue;
      let value;
      try {
        value = object[name];
      } catch {
        continue;
      }
      const lit = typeof value === 'function' ? undefined : literal(value);
      if (lit) fields.push({ name, value: lit.text, approx: lit.approx });
    }
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

  if (process.env.EXPLORE_DEBUG) debug(`${unit.container ?? ''}.${unit.name} ${receivers.map(receiverKey).join(' || ')} receivers; ${info.params.map((p) => `${p.name}: ${p.candidates.slice(0, 12).join(' | ')}`).join('\n  ')}`);
  const state = { kept: [], corpus: [], coverage: new Map(), touched: new Set(), classes: new Set(), novel: 0, full: false, tried: 0, hung: 0, reasons: new Map() };
  const seen = new Set();
  let streak = 0;
  let duplicates = 0;
  for (const candidate of candidates(info, receivers, rng, context, state.corpus)) {
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
    // all blocks reached: a few more calls may still show another kind of result, no more
    if (state.full && streak >= FULL_STREAK) break;
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
    for (const fn of run.covered.keys()) state.touched.add(fn);
    const kind = outcomeClass(run.outcome);
    // V8 counts blocks, not the untaken side of an `if`: a result of a new kind (false after
    // true, [] after a list, another error) is kept too, a couple of times per unit
    const novel = !state.classes.has(kind) && kind !== 'raised TypeError' && state.novel < MAX_NOVEL && state.kept.length < context.maxCases - 1;
    state.classes.add(kind);
    const gains = addsCoverage(state.coverage, run.covered);
    if (!gains && !novel) {
      streak += 1;
      continue;
    }
    if (!gains) state.novel += 1;
    const kept = await confirm(context, target, unit, candidate.receiver, args, key, run, info);
    if (!kept) {
      streak += 1;
      continue;
    }
    mergeCoverage(state.coverage, run.covered);
    state.kept.push(kept);
    state.corpus.push({ receiver: candidate.receiver, args });
    streak = 0;
    // every block of every function the calls entered is reached: nothing is left to find
    state.full ||= fullyCovered(state.coverage, state.touched, context.coverage.extents);
  }
  remember(context, unit, state.kept);
  return unitResult(unit, state.tried, state.kept.length ? null : emptyNote(state), state.kept);
}

/** The kind of a call's result: an error class, or the shape of the value (empty, zero,
 * negative, true, false, …). */
function outcomeClass(outcome) {
  if ('thrown' in outcome) return `raised ${outcome.thrown?.constructor?.name}`;
  const v = outcome.value;
  if (v === null || v === undefined || typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : `number ${Math.sign(v)}`;
  if (typeof v === 'string') return v ? 'string' : 'empty string';
  if (Array.isArray(v)) return v.length ? 'array' : 'empty array';
  if (typeof v === 'object') return `object ${v.constructor?.name}`;
  return typeof v;
}

/** What the kept calls passed and returned becomes input of the units explored after: values by
 * parameter name, first arguments by unit, returned arrays and objects. */
function remember(context, unit, kept) {
  for (const kase of kept) {
    // values a check accepts (true, no problems) first: the next unit needs them to go on
    const accepted = kase.outcome.kind === 'returned' && ['true', '[]', '{}', 'null', '""'].includes(kase.outcome.value);
    const put = (list, value) => {
      if (!list.includes(value)) list.splice(accepted ? 0 : list.length, 0, value);
      return list;
    };
    kase.arguments.forEach((argument, index) => {
      if (argument.value === 'undefined' || argument.value.length > 300 || /\bnew\b|=>/.test(argument.value)) return;
      const name = argument.name.toLowerCase();
      context.argPool.set(name, put(context.argPool.get(name) ?? [], argument.value));
      if (index === 0 && kase.outcome.kind === 'returned') {
        context.unitArgs.set(unit.name, put(context.unitArgs.get(unit.name) ?? [], argument.value));
      }
    });
    if (kase.outcome.kind !== 'raised' && unit.container && !kase.static) {
      const key = `${unit.container}.${unit.name}`;
      context.keptCalls.set(key, [...(context.keptCalls.get(key) ?? []), kase.arguments.map((a) => a.value)]);
    }
    const value = kase.outcome.kind === 'returned' ? kase.outcome.value : null;
    if (value && /^[[{]/.test(value) && value.length <= 400 && !['[]', '{}'].includes(value) && !context.returnPool.includes(value)) {
      context.returnPool.push(value);
    }
  }
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
 * calls: new combinations, and mutations of the calls kept so far (`corpus`, which grows). */
function* candidates(info, receivers, rng, context, corpus = []) {
  const { params, examples } = info;
  const firsts = params.map((p) => p.candidates[0] ?? 'undefined');
  for (const example of examples) {
    yield { receiver: receivers[0], args: params.map((_, i) => example[i] ?? OMIT).concat(example.slice(params.length)) };
  }
  yield { receiver: receivers[0], args: firsts };
  // states built by other methods come before odd arguments (push before pop), and with the
  // arguments those methods took (remove the sku that was added)
  for (const receiver of receivers.slice(1)) {
    yield { receiver, args: link(params, firsts, receiver) };
    yield { receiver, args: firsts };
  }
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
    if (corpus.length && rng() < 0.6) {
      yield { ...mutateCall(corpus[Math.floor(rng() * corpus.length)], params, receivers, rng, context), random: true };
      continue;
    }
    const receiver = receivers[Math.floor(rng() * receivers.length)];
    const args = params.map((p) => pickCandidate(p, rng, context));
    yield { receiver, args: rng() < 0.5 ? link(params, args, receiver) : args, random: true };
  }
}

/** Arguments named like an argument of the receiver's prelude calls take its value. */
function link(params, args, receiver) {
  if (!receiver?.calls.length) return args;
  return args.map((text, i) => {
    const name = params[i]?.name.toLowerCase();
    for (const call of receiver.calls) {
      const at = (call.names ?? []).findIndex((n) => n.toLowerCase() === name);
      if (at >= 0 && call.args[at] !== undefined) return call.args[at];
    }
    return text;
  });
}

/** A kept call with one thing changed: another receiver state, another candidate for one
 * argument, or a small edit of one argument's value (a character, an item, a field). */
function mutateCall(entry, params, receivers, rng, context) {
  const args = [...entry.args];
  while (args.length < params.length) args.push(OMIT);
  if (!params.length || (receivers.length > 1 && rng() < 0.2)) {
    const receiver = receivers[Math.floor(rng() * receivers.length)];
    return { receiver, args: rng() < 0.5 ? link(params, args, receiver) : args };
  }
  const i = Math.floor(rng() * params.length);
  if (rng() < 0.15) {
    const crossed = crossStrings(args, i, rng, context);
    if (crossed) {
      args[i] = crossed;
      return { receiver: entry.receiver, args };
    }
  }
  args[i] = mutateText(args[i], params[i], rng, context);
  return { receiver: entry.receiver, args };
}

/** A string argument with a string the call holds elsewhere put into it (a password that
 * contains the user name passed beside it). */
function crossStrings(args, i, rng, context) {
  const target = args[i] === OMIT ? undefined : valueOf(context, args[i]);
  if (typeof target !== 'string') return null;
  const strings = [];
  const collect = (value, depth) => {
    if (typeof value === 'string' && value) strings.push(value);
    else if (value && typeof value === 'object' && depth < 2) for (const inner of Object.values(value)) collect(inner, depth + 1);
  };
  args.forEach((text, j) => j !== i && text !== OMIT && collect(valueOf(context, text), 0));
  if (!strings.length) return null;
  const at = Math.floor(rng() * (target.length + 1));
  return JSON.stringify(target.slice(0, at) + pick(strings, rng) + target.slice(at));
}

function mutateText(text, param, rng, context) {
  if (rng() < 0.3 || text === OMIT || /\bnew\b|=>/.test(text)) return pickCandidate(param, rng, context);
  let value;
  try {
    [value] = evaluate(context.scope, [text]);
  } catch {
    return pickCandidate(param, rng, context);
  }
  const mutated = mutateValue(value, param.fields, param.elementFields, rng, context, 0);
  return literal(mutated)?.text ?? pickCandidate(param, rng, context);
}

const pick = (list, rng) => list[Math.floor(rng() * list.length)];

/** Evaluate a candidate text to a fresh value (undefined when it does not evaluate). */
function valueOf(context, text) {
  try {
    return evaluate(context.scope, [text])[0];
  } catch {
    return undefined;
  }
}

function mutateValue(value, fields, elementFields, rng, context, depth) {
  if (typeof value === 'number') {
    const numbers = [value + 1, value - 1, -value, value * 2, Math.trunc(value / 2), 0, value + 0.5];
    return pick(numbers, rng);
  }
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'string') return mutateString(value, rng, context);
  if (Array.isArray(value) && depth < 3) {
    const out = [...value];
    const roll = rng();
    if (out.length && roll < 0.25) out.splice(Math.floor(rng() * out.length), 1);
    else if (out.length && roll < 0.5) out.splice(Math.floor(rng() * out.length), 0, structuredCloneSafe(pick(out, rng)));
    else if (out.length && roll < 0.85) {
      const at = Math.floor(rng() * out.length);
      out[at] = mutateValue(out[at], elementFields, null, rng, context, depth + 1);
    } else if (elementFields?.size) {
      const fieldsNow = [...elementFields].map(([k, texts]) => [k, valueOf(context, pick(texts, rng))]);
      out.push(Object.fromEntries(fieldsNow));
    } else out.push(out.length ? structuredCloneSafe(pick(out, rng)) : 1);
    return out;
  }
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype && depth < 3) {
    const out = { ...value };
    const keys = [...new Set([...Object.keys(out), ...(fields?.keys() ?? [])])];
    if (!keys.length) return value;
    const key = pick(keys, rng);
    const roll = rng();
    if (roll < 0.1) delete out[key];
    else if (fields?.has(key) && roll < 0.65) out[key] = valueOf(context, pick(fields.get(key), rng));
    else if (key in out) out[key] = mutateValue(out[key], null, null, rng, context, depth + 1);
    return out;
  }
  return value;
}

function structuredCloneSafe(value) {
  try {
    return structuredClone(value);
  } catch {
    return value;
  }
}

/** Character edits with the pieces of the file (its strings, codes, regex matches). */
function mutateString(text, rng, context) {
  const pieces = context.fileStrings.length ? context.fileStrings : ['a'];
  const at = Math.floor(rng() * (text.length + 1));
  const roll = rng();
  if (roll < 0.35) return text.slice(0, at) + pick(pieces, rng) + text.slice(at);
  if (roll < 0.5) return text.slice(0, at) + pick(PICKS, rng) + text.slice(at);
  if (roll < 0.7 && text.length) return text.slice(0, at) + text.slice(at + 1 + Math.floor(rng() * 3));
  if (roll < 0.8) return text + ' ' + pick(pieces, rng);
  if (roll < 0.9) return text.toUpperCase() === text ? text.toLowerCase() : text.toUpperCase();
  return text + text;
}

/** Earlier candidates are likelier; string parameters sometimes get a composition of the short
 * strings of the file (a parser meets sequences of its own tokens). */
function pickCandidate(param, rng, context) {
  const list = param.candidates;
  if (!list.length) return 'undefined';
  const stringy = list.slice(0, 4).some((t) => kindOfText(t) === 'string');
  if (stringy && context.fileStrings.length && rng() < 0.3) {
    const pieces = Math.floor(rng() * 5) + 1;
    const spaced = rng() < 0.5 ? ' ' : '';
    const parts = [];
    for (let i = 0; i < pieces; i += 1) parts.push(context.fileStrings[Math.floor(rng() * context.fileStrings.length)]);
    return JSON.stringify(parts.join(spaced));
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
  const states = new Set(); // objects in the same state are no use twice
  let attempts = 0;
  for (const candidate of candidates(info, [null], prng(context.seed ^ hash(`${path}#new`)), context)) {
    if (found.length >= 4 || attempts >= 40) break;
    attempts += 1;
    const args = trimOmitted(candidate.args);
    const key = `new|${path}|${args.join(', ')}`;
    if (context.blacklist.has(key) || found.some((f) => f.join() === args.join())) continue;
    const ok = await guarded(context, key, async () => stateKey(Reflect.construct(cls, evaluate(context.scope, args))));
    if (ok.ok && !states.has(ok.value)) {
      states.add(ok.value);
      found.push(args);
    }
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

/** An object's whole state, private fields included, as text (to tell states apart). */
function stateKey(object) {
  const parts = [];
  for (const name of Object.keys(object)) {
    let text;
    try {
      text = literal(object[name])?.text ?? typeof object[name];
    } catch {
      text = '?';
    }
    parts.push(`${name}=${text}`);
  }
  return parts.join(';');
}

/** The synchronous public methods of a class (and of its parents in the file). */
function mutatorNames(context, cls, except) {
  const names = [];
  for (let proto = cls.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name === except || name.startsWith('_') || names.includes(name)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor.value !== 'function' || descriptor.value.constructor?.name === 'AsyncFunction') continue;
      names.push(name);
    }
    if (!classPath(context, Object.getPrototypeOf(proto)?.constructor)) break;
  }
  return names.slice(0, 12);
}

/** For each method of a class: a few calls that succeed on a fresh object and leave it in
 * different states (the preludes that bring a receiver into states worth testing). */
async function successfulCalls(context, cls, ctorArgs) {
  const path = classPath(context, cls);
  const byMethod = context.receiverStates.get(cls) ?? new Map();
  context.receiverStates.set(cls, byMethod);
  for (const method of mutatorNames(context, cls, null)) {
    // the method's own kept calls, once it has been explored, vary what matters; before that,
    // its first candidates
    const kept = context.keptCalls.get(`${path}.${method}`);
    if (byMethod.has(method) && (byMethod.get(method).fromKept || !kept)) continue;
    const info = parametersOf(context, { name: method, container: path }, cls.prototype[method], 'function');
    const names = info.params.map((p) => p.name);
    const found = [];
    found.fromKept = Boolean(kept);
    const states = new Set();
    let attempts = 0;
    const generated = candidates(info, [null], prng(context.seed ^ hash(`${path}.${method}#state`)), context);
    const tries = function* () {
      for (const args of kept ?? []) yield { args };
      yield* generated;
    };
    for (const candidate of tries()) {
      if (found.length >= 3 || attempts >= 24 || Date.now() > context.deadline) break;
      attempts += 1;
      const args = trimOmitted(candidate.args);
      const key = `state|${path}.${method}|${args.join(', ')}`;
      if (context.blacklist.has(key)) continue;
      const ok = await guarded(context, key, async () => {
        const object = Reflect.construct(cls, evaluate(context.scope, ctorArgs));
        const result = object[method](...evaluate(context.scope, args));
        if (result && typeof result.then === 'function') throw new Error('async');
        return stateKey(object);
      });
      if (ok.ok && !states.has(ok.value)) {
        states.add(ok.value);
        found.push({ method, args, names });
      }
    }
    byMethod.set(method, found);
  }
  return new Map([...byMethod].filter(([, found]) => found.length));
}

async function receiverVariants(context, unit, cls) {
  const constructions = await workingConstructions(context, cls);
  if (!constructions.length) return [];
  const variants = constructions.map((args) => ({ args, calls: [] }));
  const byMethod = await successfulCalls(context, cls, constructions[0]);
  const preludes = [...byMethod].map(([, calls]) => calls);
  const [args] = constructions;
  const push = (calls) => variants.push({ args, calls: calls.map(({ method, args: a, names }) => ({ method, args: a, names })) });
  // one call of each mutator, then two different ones of the same, then pairs of mutators
  for (const calls of preludes) push([calls[0]]);
  for (const calls of preludes) if (calls.length > 1) push([calls[0], calls[1]]);
  for (const calls of preludes) for (const call of calls.slice(1)) push([call]);
  for (const a of preludes) for (const b of preludes) if (a !== b) push([a[0], b[0]]);
  for (const calls of preludes) if (calls.length > 2) push(calls);
  for (const other of constructions.slice(1)) {
    for (const calls of preludes) variants.push({ args: other, calls: [calls[calls.length - 1]] });
  }
  return variants.slice(0, 48);
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
  const describeGuarded = (run) => {
    // getters of the receiver run user code: under the watchdog like the call
    context.guard.begin(context.unit, context.ordinal, key, context.callTimeout);
    try {
      return describe(context, target, run);
    } finally {
      context.guard.end();
    }
  };
  const one = describeGuarded(first);
  // A quick call is replayed a few times: a die roll agrees with itself once in six.
  const replays = first.duration < 20 ? 4 : 1;
  let outcome = one.outcome;
  let argumentsAfter = one.argumentsAfter;
  let receiverAfter = one.receiverAfter;
  for (let i = 0; i < replays && outcome; i += 1) {
    waitForClockTick();
    const replay = await runCase(context, target, unit, receiverSpec, args, key);
    if (!replay.valid) return null;
    const two = describeGuarded(replay);
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
