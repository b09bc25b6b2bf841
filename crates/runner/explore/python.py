"""AIunittest's Python explorer: runs a source file's units and reports what they did.

Usage (inside the runner's sandbox, cwd = the work directory):

    python3 explore.py request.json result.json

It follows the explorer contract (`explore-contract.md`): import the module named in the
request, call every unit (function, method, constructor, static/class method) with candidate
inputs, trace which lines and arcs of the source file each call reaches, keep greedily the calls
that add coverage for their unit, replay every kept call from scratch to tell stable results
from unstable ones, and write the observations -- values as Python literals that
`ast.literal_eval` reads back equal, or constructions of the file's own classes from literals --
to result.json, atomically, after every unit.

Candidate inputs come, most meaningful first, from doctest examples, default values, type hints,
the literals and comparisons in the unit's body, the parameter's name, and a type-free fallback.
Standard library only; the explorer's own randomness is seeded and never touches `random`'s
global state, which the user's code may use.
"""

import ast
import asyncio
import builtins
import collections.abc
import copy
import dataclasses
import enum
import importlib
import inspect
import io
import itertools
import json
import math
import os
import random
import re
import signal
import sys
import time
import types
import typing

# --- limits -------------------------------------------------------------------------------

RECURSION_LIMIT = 600        # leaves a test runner's own frames head-room when the case replays
MAX_TRIES_PER_UNIT = 2000
REPLAYS = 2                  # independent re-runs of a kept call that must agree with the first
RANDOM_TIMEOUTS = 2          # random phase: stop after this many calls time out
RANDOM_WASTE = 0.3           # ... or after this many seconds of calls that timed out or recursed too deep
NO_GAIN_STREAK = 120         # random phase: stop after this many calls in a row add nothing
MAX_CANDIDATES = 60          # per parameter
MAX_RECEIVERS = 40           # receiver variants (constructor arguments x prelude calls)
MAX_ITEMS = 100              # items consumed from a returned generator
MAX_LITERAL_CHARS = 2000     # longer values are not asserted
MAX_MESSAGE_CHARS = 200
OUTPUT_LIMIT = 64 * 1024     # bytes of the user's printed output kept (and then dropped)


# --- guarded calls: timeout, output, recursion ---------------------------------------------


class CallTimeout(BaseException):
    """Raised by the interval timer inside a call that ran over its time."""


class _Invalid(Exception):
    """The receiver or an argument could not be built: the candidate is void, not a case."""


_armed = False


def _on_alarm(signum, frame):
    # The timer keeps firing until disarmed, so a bare `except:` in user code cannot swallow it.
    if _armed:
        raise CallTimeout()


def guarded(fn, timeout):
    """Run fn() under the timer; return ("ok", value) / ("timeout", None) / ("error", exc)."""
    global _armed
    try:
        _armed = True
        signal.setitimer(signal.ITIMER_REAL, timeout, 0.05)
        try:
            return "ok", fn()
        except CallTimeout:
            return "timeout", None
        except BaseException as exc:  # the explorer must survive anything the user's code does
            return "error", exc
        finally:
            _armed = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CallTimeout:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        return "timeout", None


class _Sink(io.TextIOBase):
    """A bounded stand-in for stdout/stderr: keeps the first OUTPUT_LIMIT characters."""

    def __init__(self):
        super().__init__()
        self.kept = []
        self.size = 0
        self.buffer = _ByteSink()

    def write(self, text):
        text = str(text)
        if self.size < OUTPUT_LIMIT:
            self.kept.append(text[: OUTPUT_LIMIT - self.size])
        self.size += len(text)
        return len(text)

    def writable(self):
        return True

    @property
    def encoding(self):
        return "utf-8"


class _ByteSink(io.RawIOBase):
    def write(self, data):
        return len(data)

    def writable(self):
        return True


def _hygiene(state):
    """Undo what a call may have changed in the interpreter that the explorer relies on."""
    sys.settrace(None)
    sys.stdout, sys.stderr, sys.stdin = state
    if sys.getrecursionlimit() != RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    if signal.getsignal(signal.SIGALRM) is not _on_alarm:
        signal.signal(signal.SIGALRM, _on_alarm)


# --- coverage ------------------------------------------------------------------------------

_GENERATOR_FLAGS = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_RESUME = getattr(__import__("dis"), "opmap", {}).get("RESUME")
_YIELD = getattr(__import__("dis"), "opmap", {}).get("YIELD_VALUE")


class Tracer:
    """Lines and arcs (previous line, line) reached in one source file, per frame activation.

    An arc from -firstlineno marks entering a code object, an arc to -firstlineno returning
    from it, an arc to None leaving it by an exception; a generator resuming continues from
    the line it yielded at.
    """

    def __init__(self, path):
        self.path = os.path.realpath(path)
        self._ours = {}
        self.lines = set()
        self.arcs = set()

    def start(self):
        self.lines = set()
        self.arcs = set()
        sys.settrace(self._call)

    def stop(self):
        sys.settrace(None)

    def _is_ours(self, code):
        ours = self._ours.get(code)
        if ours is None:
            ours = os.path.realpath(code.co_filename) == self.path
            self._ours[code] = ours
        return ours

    def _call(self, frame, event, arg):
        code = frame.f_code
        if event != "call" or not self._is_ours(code):
            return None
        first = -code.co_firstlineno
        suspendable = bool(code.co_flags & _GENERATOR_FLAGS)
        last = [first]
        if suspendable and not _fresh_activation(frame):
            last[0] = frame.f_lineno
        lines, arcs = self.lines, self.arcs

        unwinding = [False]

        def local(frame, event, arg):
            if event == "line":
                line = frame.f_lineno
                lines.add(line)
                arcs.add((last[0], line))
                last[0] = line
                unwinding[0] = False
            elif event == "exception":
                unwinding[0] = True
            elif event == "return" and not (suspendable and _yielding(frame)):
                # Leaving by an exception is a different exit than returning from the same line.
                arcs.add((last[0], None if unwinding[0] else first))
            return local

        return local


def _fresh_activation(frame):
    """Whether a generator/coroutine frame starts (rather than resumes)."""
    try:
        return frame.f_code.co_code[frame.f_lasti + 1] == 0 if _RESUME is not None else frame.f_lasti < 0
    except (IndexError, AttributeError):
        return True


def _yielding(frame):
    try:
        return frame.f_code.co_code[frame.f_lasti] == _YIELD
    except (IndexError, AttributeError):
        return False


# --- values as literals --------------------------------------------------------------------


class NotLiteral(Exception):
    pass


def _plain(value, depth=0):
    """value rebuilt from builtin literal types (an equal value), or NotLiteral."""
    if depth > 12:
        raise NotLiteral()
    kind = type(value)
    if value is None or kind in (bool, str, bytes, int):
        return value
    if kind in (float, complex):
        parts = (value.real, value.imag) if kind is complex else (value,)
        if not all(math.isfinite(part) for part in parts):
            raise NotLiteral()
        return value
    if isinstance(value, enum.Enum):
        raise NotLiteral()
    for base in (bool, int, float, str, bytes):
        if isinstance(value, base):
            return _plain(base(value), depth + 1)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, tuple):
        return tuple(_plain(item, depth + 1) for item in value)
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {_plain(key, depth + 1): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_plain(item, depth + 1) for item in value]
        if any(isinstance(item, (list, dict, set)) for item in items):
            raise NotLiteral()
        return set(items)
    raise NotLiteral()


def _text(value):
    """Source text of a plain value; sets are written sorted so two runs write the same text."""
    kind = type(value)
    if kind is list:
        return "[" + ", ".join(_text(item) for item in value) + "]"
    if kind is tuple:
        inner = ", ".join(_text(item) for item in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if kind is dict:
        return "{" + ", ".join(_text(k) + ": " + _text(v) for k, v in value.items()) + "}"
    if kind is set:
        return "{" + ", ".join(sorted(_text(item) for item in value)) + "}" if value else "set()"
    return repr(value)


def literal(value):
    """(text, approx) when value can be written as a literal reading back equal, else None."""
    try:
        text = _text(_plain(value))
        if len(text) > MAX_LITERAL_CHARS or ast.literal_eval(text) != value:
            return None
    except (NotLiteral, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    except Exception:  # a user __eq__ may raise anything
        return None
    return text, _approx(value)


def _approx(value):
    """Floats are compared approximately: scalars, and flat sequences/dicts of numbers."""
    number = (int, float, complex)
    if isinstance(value, (float, complex)):
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else None
    if items is None:
        return False
    items = list(items)
    return (
        any(isinstance(item, (float, complex)) for item in items)
        and all(isinstance(item, number) for item in items)
    )


def builtin_type_name(value):
    """The nearest builtin class of value, usable in isinstance() by name."""
    for cls in type(value).__mro__:
        if cls.__module__ == "builtins" and getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "object"


# --- candidate values ----------------------------------------------------------------------


class Val:
    """One candidate argument: its source text and how to build a fresh value from it."""

    __slots__ = ("text", "make", "items", "parts")

    def __init__(self, text, make=None, items=None, parts=None):
        self.text = text
        self.make = make
        self.items = items  # *args: [Val]; **kwargs: [(name, Val)]
        self.parts = parts  # how a non-literal was built, for mutation: ("seq", shape, [Val]) / ("new", cls, items)


OMIT = Val(None)  # leave the parameter to its default


def lit(value):
    """A literal candidate, or None when value cannot be written as a literal."""
    found = literal(value)
    if found is None:
        return None
    frozen = copy.deepcopy(value)
    return Val(found[0], lambda: copy.deepcopy(frozen))


INTS = [0, 1, -1, 2, 3, 10, 100, -10, 7]
FLOATS = [0.0, 1.0, -1.0, 0.5, 2.5, 100.0, -3.75]
STRS = ["", "a", "abc", "hello world", "Hello, World!", "  spaced  out  ", "123", "x = 42 + y1",
        "3.14", "a-b_c d", "ÀéÎ", "aB3$efgh1234", "The quick brown fox jumps over the lazy dog", 'say "hi" (twice)']
BYTES = [b"", b"a", b"hello", b"\x00\xff"]
LISTS = [[], [1], [1, 2, 3], [3, 1, 2], [-1, 0, 5, 5], ["a", "b"], [[1, 2], [3, 4]]]
DICTS = [{}, {"a": 1}, {"a": 1, "b": 2}, {"key": "value"}, {1: "x"}]
FALLBACK = [0, 1, -1, "", "abc", [], [1, 2, 3], None, True, {}, 2.5, "hello world", [3, 1, 2],
            {"a": 1}, False, 10, (1, 2), b"abc", -2.5, "a b c"]
KIND_VALUES = {
    "int": INTS, "float": FLOATS, "str": STRS, "bytes": BYTES, "list": LISTS, "dict": DICTS,
    "bool": [True, False], "none": [None],
    "numlist": [[], [1], [1, 2, 3], [3, 1, 2], [-1, 0, 5, 5], [2.5, 1.5], [10, -10, 0, 7]],
    "strlist": [[], ["a"], ["a", "b", "c"], ["hello", "world"], ["b", "a", "b"], [""]],
    "tuple": [(), (1,), (1, 2), (0, 0), (-1, 2), ("a", 1)],
    "set": [set(), {1}, {1, 2, 3}, {"a", "b"}],
    "matrix": [[[1, 2], [3, 4]], [], [[1]], [[1, 2, 3], [4, 5, 6]], [[0, 0], [0, 0]], [[1, 2], [3]]],
}

# Values by parameter name: exact names first, then prefixes/suffixes.
NAME_VALUES = {
    "date": ["2024-01-15", "2024-02-30", "not a date", ""],
    "email": ["user@example.com", "not-an-email", "a@b", ""],
    "url": ["https://example.com/a?b=1", "http://x.org", "not a url", ""],
    "path": ["dir/file.txt", "file", "/abs/path.py", ""],
    "roman": ["XIV", "MCMXCIV", "IV", "IIII", "ABC", ""],
    "numeral": ["XIV", "MCMXCIV", "IV", "IIII", "ABC", ""],
    "expr": ["1 + 2 * 3", "(1 + 2) * 3", "10 / 0", "2 ^ 3", "", "1 +", "a + 1"],
    "expression": ["1 + 2 * 3", "(1 + 2) * 3", "10 / 0", "2 ^ 3", "", "1 +", "a + 1"],
    "year": [2024, 2000, 1900, 2023, 0, -1],
    "month": [1, 2, 12, 13, 0],
    "day": [1, 28, 31, 32, 0],
    "hour": [0, 12, 23, 24, -1],
    "minute": [0, 59, 60], "second": [0, 59, 60],
    "age": [30, 0, 17, 18, 65, -1],
    "char": ["a", "A", "1", " ", "", "ab"], "ch": ["a", "A", "1", " ", "", "ab"],
    "sep": [",", " ", "-", ""], "separator": [",", " ", "-", ""], "delimiter": [",", ";", ""],
    "op": ["+", "-", "*", "/", "%", "^"], "operator": ["+", "-", "*", "/", "%", "^"],
    "mode": ["r", "w", "a", "x"],
    "other": [],
}
INT_NAMES = {"n", "count", "size", "width", "height", "index", "idx", "i", "j", "k", "num", "number",
             "length", "limit", "times", "depth", "level", "steps", "start", "stop", "end", "offset",
             "pos", "position", "capacity", "base", "exp", "exponent", "power", "digits",
             "precision", "port", "m", "places", "indent", "max_len", "maxlen", "step", "quantity",
             "qty", "retries", "attempts", "page", "year", "month", "day", "age", "seconds", "bits"}
FLOAT_NAMES = {"amount", "price", "rate", "ratio", "factor", "weight", "temperature", "temp",
               "celsius", "fahrenheit", "balance", "radius", "x", "y", "z", "dx", "dy", "scale",
               "percent", "percentage", "probability", "threshold", "tolerance", "tol", "alpha",
               "value", "total", "cost", "salary", "distance", "speed", "angle", "score", "deposit"}
STR_NAMES = {"s", "text", "name", "word", "line", "string", "msg", "message", "prefix", "suffix",
             "key", "title", "label", "c", "pattern", "token", "query", "sentence", "content",
             "source", "src", "code", "fmt", "format", "command", "cmd", "lang", "language", "unit",
             "username", "password", "filename", "phrase", "input", "raw", "data_str", "html",
             "csv", "json_str", "header", "description", "status", "tag", "first", "last",
             "greeting", "target", "old", "new", "sub", "needle", "haystack", "letter", "vowel"}
LIST_NAMES = {"items", "xs", "values", "numbers", "nums", "lst", "list", "arr", "array", "seq",
              "sequence", "elements", "data", "scores", "l", "ys", "points", "prices", "weights",
              "amounts", "iterable", "collection", "stack", "queue", "heap", "nested", "intervals"}
STRLIST_NAMES = {"words", "lines", "names", "tokens", "strings", "keys", "tags", "parts", "labels",
                 "columns", "fields", "args_list", "paths", "emails", "sentences"}
DICT_NAMES = {"d", "mapping", "config", "options", "params", "settings", "headers", "counts",
              "table", "dict", "dictionary", "record", "row", "obj", "inventory", "scores_by",
              "environ", "env", "attrs", "meta", "metadata", "payload", "kwargs_dict", "graph"}
BOOL_NAMES = {"flag", "verbose", "strict", "reverse", "enabled", "recursive", "force", "quiet",
              "debug", "case_sensitive", "ignore_case", "inclusive", "descending", "unique",
              "sort", "dry_run", "lower", "upper", "strip"}
MATRIX_NAMES = {"matrix", "grid", "board", "rows", "table2d", "m2"}


def kinds_by_name(name):
    """Likely kinds of a parameter from its name alone."""
    low = name.lower().strip("_")
    if low in MATRIX_NAMES:
        return ["matrix"]
    if low in BOOL_NAMES or low.startswith(("is_", "has_", "allow_", "use_", "include_", "with_")):
        return ["bool"]
    if low in INT_NAMES or low.endswith(("_count", "_size", "_len", "_index", "_idx", "_num", "_width")) \
            or low.startswith(("num_", "n_", "max_", "min_")):
        return ["int"]
    if low in FLOAT_NAMES or low.endswith(("_rate", "_price", "_amount", "_ratio", "_factor")):
        return ["float", "int"]
    if low in STRLIST_NAMES:
        return ["strlist"]
    if low in LIST_NAMES:
        return ["numlist", "list"]
    if low in DICT_NAMES or low.endswith(("_map", "_dict", "_by_name")):
        return ["dict"]
    if low in STR_NAMES or low.endswith(("_name", "_str", "_text", "_id", "_key", "_type", "_code")):
        return ["str"]
    if low.endswith("s") and len(low) > 2:
        return ["list"]
    return []


# --- reading the source: doctests and the unit's body ---------------------------------------

STR_METHODS = {"upper", "lower", "strip", "lstrip", "rstrip", "split", "splitlines", "startswith",
               "endswith", "replace", "find", "rfind", "isdigit", "isalpha", "isalnum", "isspace",
               "isupper", "islower", "title", "capitalize", "encode", "format", "partition",
               "rpartition", "zfill", "center", "ljust", "rjust", "casefold", "swapcase",
               "removeprefix", "removesuffix", "expandtabs", "isnumeric", "isdecimal", "isidentifier"}
LIST_METHODS = {"append", "extend", "insert", "remove", "sort", "reverse"}
DICT_METHODS = {"items", "keys", "values", "get", "setdefault", "update"}
NUMBER_CALLS = {"range", "abs", "round", "divmod", "pow", "chr", "hex", "bin", "oct"}
SEQUENCE_CALLS = {"sum", "max", "min", "sorted", "enumerate", "zip", "iter", "reversed", "set",
                  "list", "tuple", "any", "all", "map", "filter", "frozenset"}


class BodyFacts:
    """What a unit's body says about one parameter: values worth trying, and its likely kinds."""

    def __init__(self):
        self.values = []       # specific values, most telling first
        self.kinds = {}        # kind -> votes
        self.lengths = []      # len(p) compared with these
        self.keys = []         # p["key"] / p.get("key")
        self.moduli = []       # p % k
        self.checked = False   # isinstance(p, ...): values of other types are worth a try
        self.members = []      # p in CONSTANT: the constant's elements

    def vote(self, kind, weight=1):
        self.kinds[kind] = self.kinds.get(kind, 0) + weight


def _constant(node, module):
    """The value of a literal node, or of a module-level name bound to a scalar literal."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        # 7 * MINUTES_PER_DAY: constant arithmetic, folded.
        ok_left, left = _constant(node.left, module)
        ok_right, right = _constant(node.right, module)
        numbers = (int, float)
        if ok_left and ok_right and isinstance(left, numbers) and isinstance(right, numbers) \
                and not isinstance(left, bool) and not isinstance(right, bool) and abs(left) < 1e9 and abs(right) < 1e9:
            return True, {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}[type(node.op)]
        return False, None
    if isinstance(node, ast.Name) and module is not None:
        value = getattr(module, node.id, None)
        if isinstance(value, (int, float, str, bytes, tuple, frozenset, list, set, dict)) \
                and not isinstance(value, bool) and (not hasattr(value, "__len__") or len(value) <= 50):
            return True, value
    return False, None


def _around(value):
    if isinstance(value, bool):
        return [value, not value]
    if isinstance(value, int):
        return [value, value - 1, value + 1]
    if isinstance(value, float):
        return [value, value - 0.5, value + 0.5]
    if isinstance(value, str):
        return [value, value + "x", value.upper() if value != value.upper() else value.lower()]
    return [value]


NORMALIZERS = {"strip", "lower", "upper", "casefold", "lstrip", "rstrip", "title", "capitalize"}


def _unwrap(expr):
    """The expression under string normalizers and slices: `p.strip().lower()`, `p[:3]` -> `p`."""
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                and expr.func.attr in NORMALIZERS:
            expr = expr.func.value
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice):
            expr = expr.value
        else:
            return expr


def _elements(value):
    if isinstance(value, dict):
        return list(value)[:10]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if isinstance(value, (set, frozenset)):
            items.sort(key=repr)
        return items[:10]
    if isinstance(value, str):
        return list(value)[:8]
    return []


def analyze_body(node, names, module):
    """BodyFacts per parameter name, plus the body's own constants (strings, numbers)."""
    facts = {name: BodyFacts() for name in names}
    pool = []

    def param(expr):
        return expr.id if isinstance(expr, ast.Name) and expr.id in facts else None

    def compared(left, op, right):
        ok, value = _constant(right, module)
        if not ok:
            if isinstance(op, (ast.In, ast.NotIn)) and param(_unwrap(right)):
                # `"@" in p`: p should sometimes contain the constant.
                ok, part = _constant(left, module)
                if ok and isinstance(part, str) and part:
                    facts[param(_unwrap(right))].values.extend(["a" + part + "b", part])
                    facts[param(_unwrap(right))].vote("str")
            return
        if isinstance(op, (ast.In, ast.NotIn)):
            name = param(_unwrap(left))
            if name:
                elements = _elements(value)
                facts[name].values.extend(elements)
                facts[name].members.extend(elements)
                if left is not _unwrap(left) and elements and isinstance(elements[0], str):
                    # p.lower() in WORDS / p[:3] in DAYS: the element written otherwise, or longer.
                    facts[name].values.extend([e.upper() if e != e.upper() else e.lower() for e in elements[:2]])
                    facts[name].values.extend([e + "x" for e in elements[:1]])
                facts[name].vote("str" if isinstance(value, str) else "int" if all(
                    isinstance(v, int) for v in elements or [None]) else "str")
            return
        if isinstance(op, (ast.Is, ast.IsNot)) and value is None and param(left):
            facts[param(left)].values.append(None)
            return
        name = param(_unwrap(left))
        if name:
            facts[name].values.extend(_around(value))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                facts[name].vote("float" if isinstance(value, float) else "int", 2)
            elif isinstance(value, str):
                facts[name].vote("str", 2)
            return
        if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == "len" \
                and left.args and param(left.args[0]) and isinstance(value, int):
            facts[param(left.args[0])].lengths.extend([value - 1, value, value + 1])
            return
        if isinstance(left, ast.BinOp) and isinstance(left.op, (ast.Add, ast.Sub)) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            # `start + p > LIMIT`: p near LIMIT crosses it whatever the other term is.
            for side in (left.left, left.right):
                if param(side):
                    facts[param(side)].values.extend(_around(value))
            return
        if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Mod) and param(left.left):
            ok2, k = _constant(left.right, module)
            if ok2 and isinstance(k, int) and k:
                facts[param(left.left)].moduli.append(k)
                facts[param(left.left)].vote("int", 2)
            return
        if isinstance(left, ast.Subscript) and param(left.value) and isinstance(value, str):
            facts[param(left.value)].values.extend([value + "abc", value])

    quiet = _message_constants(node)
    for sub in ast.walk(node):
        if isinstance(sub, ast.Compare):
            operands = [sub.left] + list(sub.comparators)
            for op, left, right in zip(sub.ops, operands, operands[1:]):
                compared(left, op, right)
                if not isinstance(op, (ast.In, ast.NotIn)):
                    compared(right, op, left)
        elif isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and param(func.value):
                facts_p = facts[param(func.value)]
                attr = func.attr
                if attr in STR_METHODS:
                    facts_p.vote("str", 2)
                    if attr in ("startswith", "endswith", "removeprefix", "removesuffix") and sub.args:
                        ok, value = _constant(sub.args[0], module)
                        for prefix in (value if isinstance(value, tuple) else (value,)) if ok else ():
                            if isinstance(prefix, str):
                                facts_p.values.extend(
                                    [prefix + "abc", "abc" + prefix] if attr.startswith(("end", "removes"))
                                    else [prefix + "abc", "abc" + prefix])
                elif attr in LIST_METHODS:
                    facts_p.vote("list", 2)
                elif attr in DICT_METHODS:
                    facts_p.vote("dict", 2)
                    if attr in ("get", "setdefault") and sub.args:
                        ok, key = _constant(sub.args[0], module)
                        if ok and isinstance(key, (str, int)):
                            facts_p.keys.append(key)
                elif attr == "decode":
                    facts_p.vote("bytes", 2)
            if isinstance(func, ast.Attribute) and func.attr == "join":
                for arg in sub.args:
                    if param(arg):
                        facts[param(arg)].vote("strlist", 2)
            if isinstance(func, ast.Name):
                for arg in sub.args[:1]:
                    name = param(arg)
                    if not name:
                        continue
                    if func.id in NUMBER_CALLS:
                        facts[name].vote("int")
                    elif func.id in SEQUENCE_CALLS:
                        facts[name].vote("numlist" if func.id in ("sum", "max", "min", "sorted") else "list")
                    elif func.id == "len":
                        facts[name].vote("str")
                        facts[name].vote("list")
                    elif func.id == "ord":
                        facts[name].values.extend(["a", "Z", "0"])
                    elif func.id in ("int", "float"):
                        facts[name].vote("str")
                    elif func.id == "isinstance" and len(sub.args) > 1:
                        facts[name].checked = True
                        for kind in _isinstance_kinds(sub.args[1]):
                            facts[name].vote(kind, 2)
        elif isinstance(sub, (ast.For, ast.comprehension)) and param(sub.iter):
            facts[param(sub.iter)].vote("list")
        elif isinstance(sub, ast.Subscript) and param(sub.value):
            ok, key = _constant(sub.slice, module)
            facts_p = facts[param(sub.value)]
            if ok and isinstance(key, str):
                facts_p.vote("dict", 2)
                facts_p.keys.append(key)
            elif ok and isinstance(key, int):
                facts_p.vote("list")
                facts_p.lengths.extend([key, key + 1])
            elif isinstance(sub.slice, ast.Slice):
                facts_p.vote("str")
                facts_p.vote("list")
        elif isinstance(sub, (ast.BinOp, ast.AugAssign)):
            left = sub.left if isinstance(sub, ast.BinOp) else sub.target
            right = sub.right if isinstance(sub, ast.BinOp) else sub.value
            for a, b in ((left, right), (right, left)):
                if param(a):
                    ok, value = _constant(b, module)
                    if ok and isinstance(value, (int, float)) and not isinstance(value, bool):
                        facts[param(a)].vote("int")
                    elif ok and isinstance(value, str):
                        facts[param(a)].vote("str")
        elif isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub) and param(sub.operand):
            facts[param(sub.operand)].vote("int")
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float, str)) \
                and not isinstance(sub.value, bool) and id(sub) not in quiet:
            if not (isinstance(sub.value, str) and len(sub.value) > 40):
                pool.append(sub.value)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and module is not None:
            table = getattr(module, sub.id, None)
            if isinstance(table, (dict, list, tuple, set, frozenset)) and 0 < len(table) <= 60:
                words = [item for item in _elements(table) if isinstance(item, str) and 0 < len(item) <= 3]
                if words:
                    pool.extend(words[:4])
                    pool.append("".join(words))
                    pool.append("".join(reversed(words)))
    chars = [c for c in _dedupe(pool) if isinstance(c, str) and len(c) == 1]
    if len(chars) > 1:
        # Single characters the body looks for, together: what a scanner or tokenizer wants to meet.
        pool = ["x1 " + " ".join(chars), "".join(chars)] + pool
    return facts, _dedupe(pool)[:24]


# --- strings shaped like what the body parses ----------------------------------------------

SPLITS = {"split", "rsplit", "partition", "rpartition"}
MAX_SHAPES = 20


class _Shape:
    """How a string variable of the body is cut: by `sep` into named parts (or a list of items)."""

    def __init__(self, sep, parts, repeated):
        self.sep, self.parts, self.repeated = sep, parts, repeated
        self.listvar = parts[0] if repeated and parts else None  # `parts = v.split(sep)`


def _split_of(expr, known):
    """(variable, separator) when expr is `v.split(sep)` (after normalizers) on a known variable."""
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in SPLITS):
        return None
    base = _unwrap(expr.func.value)
    if not (isinstance(base, ast.Name) and base.id in known):
        return None
    if not expr.args or (isinstance(expr.args[0], ast.Constant) and expr.args[0].value is None):
        return base.id, " "
    ok, sep = _constant(expr.args[0], None)
    return (base.id, sep) if ok and isinstance(sep, str) and sep else None


def _names(target):
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in target.elts):
        return [e.id for e in target.elts]
    return None


def _shapes_of(node, root):
    """The variables derived from parameter `root` by normalizing, splitting and int()/float():
    their shapes, and numeric parts (variable -> (kind, the converted value's name))."""
    known, shapes, numeric = {root}, {}, {}
    pairs = []  # (target, value) in source order, tuples unpacked pairwise
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
            target, value = sub.targets[0], sub.value
            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple) and len(target.elts) == len(value.elts):
                pairs += list(zip(target.elts, value.elts))
            else:
                pairs.append((target, value))
        elif isinstance(sub, (ast.For, ast.comprehension)):
            pairs.append((sub.target, ast.Call(func=ast.Name(id="<each>"), args=[sub.iter], keywords=[])))
    for _ in range(3):  # a few passes: assignments need not come in dependency order in ast.walk
        for target, value in pairs:
            names = _names(target)
            if not names:
                continue
            each = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "<each>"
            inner = value.args[0] if each else value
            cut = _split_of(inner, known)
            if cut is not None:
                var, sep = cut
                parts = [n for n in names if n != "_"] if not each else names[:1]
                if inner.func.attr.endswith("partition") and len(names) == 3:
                    parts = [names[0], names[2]]
                repeated = each or (len(names) == 1 and not inner.func.attr.endswith("partition"))
                if var not in shapes or shapes[var].sep == "" or (not repeated and shapes[var].repeated):
                    shapes[var] = _Shape(sep, parts, repeated)
                known.update(parts)
            elif each and isinstance(inner, ast.Name) and any(sh.listvar == inner.id for sh in shapes.values()):
                for shape in shapes.values():  # `for part in parts` names the list's items
                    if shape.listvar == inner.id:
                        shape.parts = names[:1]
                known.update(names[:1])
            elif len(names) == 1 and isinstance(_unwrap(inner), ast.Name) and _unwrap(inner).id in known \
                    and inner is not _unwrap(inner):
                known.add(names[0])
                if names[0] not in shapes and _unwrap(inner).id in shapes:
                    shapes[names[0]] = shapes[_unwrap(inner).id]
                elif names[0] != _unwrap(inner).id:
                    shapes.setdefault(_unwrap(inner).id, _Shape("", [names[0]], False))
            elif len(names) == 1 and isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) \
                    and inner.func.id in ("int", "float") and inner.args and isinstance(inner.args[0], ast.Name) \
                    and inner.args[0].id in known:
                numeric[inner.args[0].id] = (inner.func.id, names[0])
    for sub in ast.walk(node):  # int(part) used in place
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("int", "float") \
                and sub.args and isinstance(sub.args[0], ast.Name) and sub.args[0].id in known:
            numeric.setdefault(sub.args[0].id, (sub.func.id, sub.args[0].id))
    return shapes, numeric, known


def string_shapes(node, root, module):
    """Strings built the way the body takes `root` apart: "day HH:MM" for a body that splits on
    whitespace, then on ':', and calls int() on the pieces; the first one as valid as we can tell,
    then each piece varied alone."""
    shapes, numeric, known = _shapes_of(node, root)
    if root not in shapes:
        return []
    facts, _ = analyze_body(node, sorted(known | {n for _, n in numeric.values()}), module)

    def leaf(var):
        if var in numeric:
            kind, name = numeric[var]
            numbers = [v for v in facts[name].values + facts[var].values
                       if isinstance(v, (int, float)) and not isinstance(v, bool)]
            texts = ["1" if kind == "int" else "1.5"] + [str(v) for v in numbers] + ["x"]
            return _dedupe(texts)
        found = facts[var]
        members = [v for v in found.members if isinstance(v, str)]
        texts = members[:2] + ["abc"] + members[2:] + [v for v in found.values if isinstance(v, str)]
        texts += [("abcdefghij" * 7)[:n] for n in found.lengths if 0 <= n <= 70]
        return _dedupe(texts)[:8]

    def build(var, depth):
        shape = shapes.get(var)
        if shape is None or depth > 4:
            return leaf(var)
        options = [build(part, depth + 1) for part in shape.parts] or [["abc"]]
        if shape.sep == "":
            return options[0]
        if shape.repeated:
            counts = _dedupe([n for n in facts[shape.listvar or var].lengths if 0 < n <= 6] + [2, 1, 3])
            item = options[0]
            out = [shape.sep.join(item[i % min(len(item), 2)] for i in range(n)) for n in counts]
            out += [shape.sep.join([item[0]] * (counts[0] - 1) + [alt]) for alt in item[1:4]]
            return _dedupe(out)
        base = [o[0] for o in options]
        out = [shape.sep.join(base)]
        out += [shape.sep.join(base[:-1]), shape.sep.join(base + base[-1:])]  # a part missing, one too many
        for k in range(1, 8):  # each part varied alone, the parts taking turns
            out += [shape.sep.join(base[:i] + [choices[k]] + base[i + 1:])
                    for i, choices in enumerate(options) if k < len(choices)]
        return _dedupe(out)

    return build(root, 0)[:MAX_SHAPES]


def _forwards(node, names, module, container):
    """(parameter, unit key, slot) for each parameter passed as an argument to a unit of the file:
    `f(p)`, `Cls(p)`, `self.m(p)` or `Cls.m(p)`; slot is "#position" or the keyword."""
    out = []
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        func, key = sub.func, None
        if isinstance(func, ast.Name):
            obj = getattr(module, func.id, None)
            key = (func.id, "__init__") if isinstance(obj, type) else (None, func.id)
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in ("self", "cls") and container:
                key = (container, func.attr)
            elif isinstance(getattr(module, owner, None), type):
                key = (owner, func.attr)
        if key is None:
            continue
        for i, arg in enumerate(sub.args):
            base = _unwrap(arg)
            if isinstance(base, ast.Name) and base.id in names:
                out.append((base.id, key, "#%d" % i))
        for keyword in sub.keywords:
            base = _unwrap(keyword.value)
            if keyword.arg and isinstance(base, ast.Name) and base.id in names:
                out.append((base.id, key, keyword.arg))
    return out


def attribute_facts(tree, module):
    """Values that attributes are compared with anywhere in the file (`self.balance >= 1000`,
    `line.product.category == "books"`), for parameters and fields of the same name."""
    out = {}
    for sub in ast.walk(tree):
        if not isinstance(sub, ast.Compare):
            continue
        operands = [sub.left] + list(sub.comparators)
        for op, left, right in zip(sub.ops, operands, operands[1:]):
            for a, b in ((left, right), (right, left)):
                a = _unwrap(a)
                if not isinstance(a, ast.Attribute):
                    continue
                ok, value = _constant(b, module)
                if not ok:
                    continue
                if isinstance(op, (ast.In, ast.NotIn)):
                    if b is right:
                        out.setdefault(a.attr, []).extend(_elements(value)[:6])
                elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
                    out.setdefault(a.attr, []).extend(_around(value))
    return {k: _dedupe(v)[:12] for k, v in out.items()}


def _tokens(name):
    return {t[:-1] if t.endswith("s") else t for t in name.lower().split("_") if len(t) >= 3}


def related_constants(module, name):
    """Elements of module constants named like the parameter (DISCOUNT_CODES for `code`)."""
    if module is None:
        return []
    mine = _tokens(name)
    out = []
    for const, value in vars(module).items():
        if const.startswith("__") or not (mine & _tokens(const)):
            continue
        if isinstance(value, (dict, list, tuple, set, frozenset)) and 0 < len(value) <= 60:
            out += [v for v in _elements(value)[:6] if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
    return out


_CODE_SPAN = re.compile(r"``(.+?)``|`([^`\n]+)`")
_QUOTED = re.compile(r"'([^'\n]{1,60})'|\"([^\"\n]{1,60})\"")


def doc_values(node):
    """Example values written in a unit's docstring: ``code`` spans, quoted strings, and
    bracketed literals such as [(1, 3), (4, 6)]."""
    try:
        doc = ast.get_docstring(node, clean=True) or ""
    except TypeError:
        return []
    out = []
    for match in _CODE_SPAN.finditer(doc):
        text = (match.group(1) or match.group(2)).strip()
        if text.replace(".", "_").isidentifier():
            continue  # a name (``capacity``, ``self.items``), not a value
        ok, value = _read_literal(text)
        out += [value] if ok and not isinstance(value, (int, float)) else [text] + ([value] if ok else [])
    for match in _QUOTED.finditer(doc):
        out.append(match.group(1) or match.group(2))
    for start, char in enumerate(doc):
        if char in "[({":
            end = _closing(doc, start)
            ok, value = _read_literal(doc[start:end + 1]) if end else (False, None)
            if ok and value not in ((), [], {}):
                out.append(value)
    return _dedupe(out)[:12]


def _read_literal(text):
    try:
        return True, ast.literal_eval(text)
    except Exception:
        return False, None


def _closing(text, start):
    """Index of the bracket closing the one at start (same line), or None."""
    pairs = {"[": "]", "(": ")", "{": "}"}
    stack = []
    for i in range(start, min(len(text), start + 200)):
        char = text[i]
        if char == "\n":
            return None
        if char in pairs:
            stack.append(pairs[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return i
    return None


def _message_constants(node):
    """ids of constants that are prose, not data: docstrings, raise messages, f-string parts."""
    quiet = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Raise, ast.JoinedStr)):
            quiet.update(id(n) for n in ast.walk(sub) if isinstance(n, ast.Constant))
        body = getattr(sub, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            quiet.add(id(body[0].value))
    return quiet


def _isinstance_kinds(node):
    names = [node] if not isinstance(node, ast.Tuple) else list(node.elts)
    table = {"int": "int", "float": "float", "str": "str", "list": "list", "dict": "dict",
             "bool": "bool", "bytes": "bytes", "tuple": "tuple", "set": "set"}
    return [table[n.id] for n in names if isinstance(n, ast.Name) and n.id in table]


def _dedupe(values):
    seen = set()
    out = []
    for value in values:
        key = (type(value).__name__, repr(value))
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


class SourceIndex:
    """The parsed source: unit definitions and the calls written in doctests."""

    def __init__(self, text):
        self.tree = ast.parse(text)
        self.lines = text.splitlines()
        self.doctest_calls = []
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node, clean=True) or ""
                for line in doc.splitlines():
                    line = line.strip()
                    if line.startswith(">>> "):
                        try:
                            expr = ast.parse(line[4:], mode="eval")
                        except SyntaxError:
                            continue
                        self.doctest_calls.extend(n for n in ast.walk(expr) if isinstance(n, ast.Call))

    def definition(self, container, name):
        scope = self.tree.body
        for part in (container.split(".") if container else []):
            classes = [n for n in scope if isinstance(n, ast.ClassDef) and n.name == part]
            if not classes:
                return None
            scope = classes[-1].body
        found = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 and n.name == name]
        return found[-1] if found else None

    def doctests_for(self, name):
        out = []
        for call in self.doctest_calls:
            func = call.func
            if (isinstance(func, ast.Name) and func.id == name) or \
                    (isinstance(func, ast.Attribute) and func.attr == name):
                out.append(call)
        return out

    def is_raise(self, line):
        return 0 < line <= len(self.lines) and self.lines[line - 1].lstrip().startswith("raise")


# --- units ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """A unit resolved to something callable."""
    kind: str                 # function | method | constructor | static
    cls: typing.Any
    name: str
    fn: typing.Any            # the function object (for hints and async detection)
    params: list
    node: typing.Any


class ArgItem:
    __slots__ = ("name", "val", "keyword")

    def __init__(self, name, val, keyword):
        self.name, self.val, self.keyword = name, val, keyword


def bind(params, chosen):
    """Argument items for the chosen candidates, or None when they cannot be passed."""
    items = []
    omitted = False
    for param, val in zip(params, chosen):
        kind = param.kind
        if val is OMIT:
            omitted = True
            continue
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if omitted:
                return None
            items.extend(ArgItem(param.name, item, False) for item in val.items)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            items.extend(ArgItem(key, item, True) for key, item in val.items)
        elif kind is inspect.Parameter.KEYWORD_ONLY:
            items.append(ArgItem(param.name, val, True))
        elif omitted:
            if kind is inspect.Parameter.POSITIONAL_ONLY:
                return None
            items.append(ArgItem(param.name, val, True))
        else:
            items.append(ArgItem(param.name, val, False))
    return items


def materialize(items):
    args, kwargs = [], {}
    for item in items:
        value = item.val.make()
        if item.keyword:
            kwargs[item.name] = value
        else:
            args.append(value)
    return args, kwargs


def args_json(items):
    return [{"name": item.name, "value": item.val.text, "keyword": item.keyword} for item in items]


def args_text(items):
    return ", ".join((item.name + "=" if item.keyword else "") + item.val.text for item in items)


class Receiver:
    """How to build the object a method is called on: constructor arguments, then prelude calls."""

    def __init__(self, cls, container, ctor_items, calls):
        self.cls, self.container, self.ctor_items, self.calls = cls, container, ctor_items, calls

    def build(self):
        args, kwargs = materialize(self.ctor_items)
        try:
            obj = self.cls(*args, **kwargs)
            for method, items in self.calls:
                a, k = materialize(items)
                result = getattr(obj, method)(*a, **k)
                if inspect.iscoroutine(result):
                    asyncio.run(result)
        except (CallTimeout, RecursionError):
            raise
        except BaseException as exc:
            raise _Invalid() from exc
        return obj

    def json(self):
        return {"class": self.container, "arguments": args_json(self.ctor_items),
                "calls": [{"method": m, "arguments": args_json(items)} for m, items in self.calls]}


# --- the explorer ----------------------------------------------------------------------------


class Run:
    """One call: how it ended, what it reached, and (when worth keeping) what it showed."""

    def __init__(self):
        self.status = "invalid"   # returned | raised | timeout | recursion | invalid
        self.value = None
        self.exc = None
        self.lines = set()
        self.arcs = set()
        self.obs = None
        self.seconds = 0.0


class Explorer:
    def __init__(self, request, result_path):
        self.request = request
        self.result_path = result_path
        self.started = time.monotonic()
        budget = max(0, int(request.get("budget_ms", 15000))) / 1000.0
        self.deadline = self.started + budget
        self.timeout = max(0.001, int(request.get("call_timeout_ms", 1000)) / 1000.0)
        self.max_cases = max(1, int(request.get("max_cases_per_unit", 8)))
        self.rng = random.Random(request.get("seed", 0))
        self.result = {"imported": False, "error": None, "elapsed_ms": 0, "units": []}
        self.module = None
        self.index = None
        self.tracer = None
        self.pools = {}
        self.good_calls = {}     # (class, method) -> argument items of calls that returned
        self.kept_args = {}      # (container, unit) -> slot ("#0" / name) -> [(Val, returned)]
        self.prelude_options = {}  # class -> (constructions, [[prelude call] per method])
        self.file_facts = {}     # attribute name -> values it is compared with anywhere in the file
        self.building = []
        self.io_state = None

    # -- output --

    def write(self):
        self.result["elapsed_ms"] = int((time.monotonic() - self.started) * 1000)
        tmp = self.result_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.result, handle, ensure_ascii=False, indent=1)
        os.replace(tmp, self.result_path)

    # -- the whole file --

    def run(self):
        source = self.request["source"]
        self.io_state = (_Sink(), _Sink(), io.StringIO(""))
        _hygiene(self.io_state)
        if not self.import_module(source, self.request["module"]):
            self.write()
            return
        self.result["imported"] = True
        self.write()
        path = getattr(self.module, "__file__", None) or source
        self.tracer = Tracer(path)
        try:
            with open(path, encoding="utf-8") as handle:
                self.index = SourceIndex(handle.read())
        except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
            self.index = SourceIndex("")
        self.file_facts = attribute_facts(self.index.tree, self.module)
        units = self.request.get("units", [])
        for position, unit in enumerate(units):
            left = len(units) - position
            unit_deadline = time.monotonic() + max(0.0, self.deadline - time.monotonic()) / left
            self.result["units"].append(self.explore_unit(unit, unit_deadline))
            self.write()

    def import_module(self, source, name):
        cwd = os.getcwd()
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        root = os.path.dirname(os.path.abspath(source))
        for _ in range(name.count(".")):
            root = os.path.dirname(root)
        for entry in (root, cwd):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        status, value = guarded(lambda: importlib.import_module(name),
                                max(self.timeout, self.deadline - time.monotonic()))
        _hygiene(self.io_state)
        if status == "ok":
            self.module = value
            return True
        if status == "timeout":
            self.result["error"] = "TimeoutError: importing the module took longer than the budget"
        else:
            message = str(value)
            self.result["error"] = type(value).__name__ + (": " + message if message else "")
        return False

    # -- one unit --

    def explore_unit(self, unit, deadline):
        name, container = unit.get("name"), unit.get("container")
        report = {"name": name, "container": container, "tried": 0, "note": None, "cases": []}
        try:
            target = self.resolve(name, container)
            if isinstance(target, str):
                report["note"] = target
                return report
            self.search(target, report, deadline)
        except Exception as exc:  # a bug here must not cost the other units
            report["note"] = "explorer error: %s: %s" % (type(exc).__name__, exc)
        finally:
            _hygiene(self.io_state)
        if not report["cases"] and report["note"] is None:
            report["note"] = "no call could be run to completion within the budget" \
                if time.monotonic() >= deadline else "no call reached the unit's code"
        return report

    def resolve(self, name, container):
        """The unit as a Target, or a sentence saying why it cannot be called."""
        if container is None:
            obj = getattr(self.module, name, None)
            if obj is None or not callable(obj):
                return "not found as a callable in the imported module"
            if isinstance(obj, type):
                return self._constructor(obj, name)
            if inspect.isasyncgenfunction(obj):
                return "async generators are not explored"
            return Target("function", None, name, obj, _params(obj, False), self.index.definition(None, name))
        cls = self.module
        for part in container.split("."):
            cls = getattr(cls, part, None)
        if not isinstance(cls, type):
            return "class %s not found in the imported module" % container
        if name in ("__init__", "__new__"):
            return self._constructor(cls, container)
        raw = inspect.getattr_static(cls, name, None)
        if raw is None:
            return "not found on class %s" % container
        node = self.index.definition(container, name)
        if isinstance(raw, (staticmethod, classmethod)):
            fn = raw.__func__
            return Target("static", cls, name, fn, _params(fn, isinstance(raw, classmethod)), node)
        if isinstance(raw, property):
            return "a property, read rather than called"
        if not callable(raw):
            return "not a method"
        if inspect.isasyncgenfunction(raw):
            return "async generators are not explored"
        return Target("method", cls, name, raw, _params(raw, True), node)

    def _constructor(self, cls, container):
        node = self.index.definition(container, "__init__") or self.index.definition(container, "__new__")
        try:
            params = list(inspect.signature(cls).parameters.values())
        except (TypeError, ValueError):
            return "its signature cannot be read"
        init = cls.__dict__.get("__init__", cls)
        target = Target("constructor", cls, "__init__", init, params, node)
        target.container = container
        return target

    # -- candidates --

    def candidates(self, target, owner=None):
        """One list of candidate Vals per parameter, plus index tuples for doctest calls."""
        params = target.params
        names = [p.name for p in params]
        node = target.node
        facts, pool = analyze_body(node, names, self.module) if node is not None \
            else ({n: BodyFacts() for n in names}, [])
        pool = _dedupe(doc_values(node) + pool) if node is not None else pool
        hints = _hints(target.fn if target.kind != "constructor" else target.cls, self.module)
        forwarded = self.forwarded_vals(target, names)
        lists = []
        for param in params:
            facts[param.name].values.extend(self.file_facts.get(param.name, []))
            facts[param.name].values.extend(related_constants(self.module, param.name))
            shapes = [lit(v) for v in string_shapes(node, param.name, self.module)] if node is not None else []
            front = forwarded.get(param.name, [])[:8] + shapes[:6]
            lists.append(self.param_candidates(param, hints.get(param.name), facts[param.name], pool, owner,
                                               front, shapes[6:]))
        seeds = self.doctest_seeds(target, params, lists)
        return lists, seeds

    def param_candidates(self, param, hint, facts, pool, owner, front=(), later=()):
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            return self.star_candidates(param, hint, facts)
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return self.kwargs_candidates(facts)
        values = []          # Val objects, in order
        has_default = param.default is not inspect.Parameter.empty
        if has_default:
            values.append(OMIT)
        hinted = self.hint_vals(hint, 0) if hint is not None else []
        kinds = _hint_kinds(hint) if hint is not None else []
        body = self.body_vals(facts, kinds or self.ranked_kinds(facts, param.name), pool)
        local = self.named_instances(param.name, owner)
        values += local[:2] + list(front) + hinted[:3] + body[:20] + list(later) + hinted[3:] + local[2:]
        if hinted and facts.checked:
            # The body checks the type itself: values of other types reach its refusal.
            values += [lit(v) for v in (1.5, "1", None, True, [1])]
        if not hinted:
            for kind in self.ranked_kinds(facts, param.name):
                values += [lit(v) for v in self.kind_values(kind, facts)]
            values += [lit(v) for v in NAME_VALUES.get(param.name.lower(), [])]
            values += body[20:]
            values += [lit(v) for v in FALLBACK]
            values += self.any_instances()
        elif has_default and param.default is None:
            values.append(lit(None))
        return _unique_vals(values)[:MAX_CANDIDATES]

    def ranked_kinds(self, facts, name):
        ranked = sorted(facts.kinds.items(), key=lambda kv: -kv[1])
        kinds = [k for k, _ in ranked]
        for kind in kinds_by_name(name):
            if kind not in kinds:
                kinds.append(kind)
        if "list" in kinds and "numlist" not in kinds and "strlist" not in kinds:
            kinds.insert(kinds.index("list"), "numlist")
        return kinds[:3]

    def kind_values(self, kind, facts):
        values = list(KIND_VALUES.get(kind, []))
        if kind == "dict" and facts.keys:
            full = {key: _value_for_key(key) for key in facts.keys}
            values = [full] + [{k: v for k, v in full.items() if k != drop} for drop in full] + values
        return values

    def body_vals(self, facts, kinds, pool):
        out = list(facts.values)
        for length in facts.lengths:
            if length >= 0:
                if "str" in kinds or not kinds:
                    out.append(("abcdefghijklmnopqrstuvwxyz" * 4)[:length])
                if any(k in kinds for k in ("list", "numlist", "strlist", "tuple")) or not kinds:
                    out.append(list(range(1, length + 1)))
        for k in facts.moduli:
            out.extend([k, k + 1, 2 * k])
        if len(facts.moduli) > 1:
            out.append(math.prod(facts.moduli))
        if facts.keys:
            out.extend(self.kind_values("dict", facts)[:2])
        accepts = _kind_filter(kinds)
        for value in pool:
            if accepts(value):
                out.extend(_around(value)[:2] if isinstance(value, (int, float)) else [value])
        return [v for v in (lit(value) for value in _dedupe(out) if accepts(value)) if v is not None]

    def hint_vals(self, hint, depth):
        """Candidate Vals for a type hint (empty when it says nothing usable)."""
        if depth > 2 or hint is None:
            return []
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is typing.Any or hint is object:
            return []
        if hint is type(None) or hint is None:
            return [lit(None)]
        if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(hint, types.UnionType)):
            parts = [self.hint_vals(arg, depth) for arg in args]
            return [v for group in itertools.zip_longest(*parts) for v in group if v is not None]
        if origin is typing.Literal:
            return [lit(arg) for arg in args]
        if hint in (int, float, str, bool, bytes):
            return [lit(v) for v in KIND_VALUES[{int: "int", float: "float", str: "str", bool: "bool",
                                                   bytes: "bytes"}[hint]]]
        if hint in (list, collections.abc.Sequence, collections.abc.Iterable) or origin in (
                list, collections.abc.Sequence, collections.abc.Iterable, collections.abc.MutableSequence,
                collections.abc.Collection):
            inner = args[0] if args else None
            if typing.get_origin(inner) in (list, collections.abc.Sequence) and depth < 2:
                return self._matrices(inner, depth)
            elements = self._element_vals(inner, depth)
            return _sequences(elements, list)
        if hint is tuple or origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return _sequences(self._element_vals(args[0], depth), tuple)
            if args:
                columns = [self._element_vals(arg, depth) or [lit(None)] for arg in args]
                # Positions in step ((1, 1)) and out of step ((1, 2), (2, 1)), so that orderings
                # between the members (start > end) are reached too.
                shapes = [(i, shift) for i in range(4) for shift in (0, 1, -1)]
                return _unique_vals([
                    compose([col[(i + k * shift) % len(col)] for k, col in enumerate(columns)], tuple)
                    for i, shift in shapes])
            return [lit(v) for v in KIND_VALUES["tuple"]]
        if hint in (dict, collections.abc.Mapping) or origin in (dict, collections.abc.Mapping,
                                                                 collections.abc.MutableMapping):
            keys = [k for k in self._element_vals(args[0] if args else str, depth) if _hashable_literal(k)]
            values = self._element_vals(args[1] if len(args) > 1 else int, depth) or [lit(1)]
            keys = keys[:3] or [lit("a")]
            return [compose_dict([]), compose_dict([(keys[0], values[0])]),
                    compose_dict(list(zip(keys, itertools.cycle(values[1:] or values))))]
        if hint in (set, frozenset) or origin in (set, frozenset, collections.abc.Set):
            elements = [e for e in self._element_vals(args[0] if args else int, depth) if _hashable_literal(e)]
            return [compose([], set), compose(elements[:1], set), compose(elements[:3], set)]
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and self._is_local(hint):
            return [Val("%s(%s)" % (hint.__name__, literal(m.value)[0]), (lambda m=m: m))
                    for m in hint if literal(m.value) is not None]
        if isinstance(hint, type) and self._is_local(hint):
            return self.instances(hint)
        return []

    def _matrices(self, row_hint, depth):
        """Lists of rows: square ones of each small size and a wide one first, then ragged and empty."""
        args = typing.get_args(row_hint)
        cells = self._element_vals(args[0] if args else None, depth + 1) or [lit(v) for v in (1, 2, 3)]
        cells = [c for c in cells if c is not None] or [lit(1)]

        def grid(rows, cols, shift=0):
            return compose([compose([cells[(r * cols + c + shift) % len(cells)] for c in range(cols)], list)
                            for r in range(rows)], list)

        ragged = compose([compose(cells[:2], list), compose(cells[:1], list)], list)
        return _unique_vals([grid(2, 2), grid(3, 3), grid(1, 1), grid(2, 3), grid(3, 2), grid(2, 2, 1),
                             grid(4, 4), ragged, compose([], list), grid(1, 3)])

    def _element_vals(self, hint, depth):
        """Candidate elements for a container hint, non-empty values first."""
        if hint is None:
            return [lit(v) for v in (1, 2, 3, 0, -1)]
        vals = [v for v in self.hint_vals(hint, depth + 1) if v is not None and v is not OMIT]
        empty = ("''", "0", "0.0", "[]", "{}", "()", "set()", "b''", "None", "False")
        return ([v for v in vals if v.text not in empty] + [v for v in vals if v.text in empty])[:6]

    def star_candidates(self, param, hint, facts):
        element = self._element_vals(hint, 0) if hint is not None else []
        if not element:
            singular = param.name[:-1] if param.name.endswith("s") else param.name
            element = [lit(v) for kind in self.ranked_kinds(facts, singular) or ["int"]
                       for v in KIND_VALUES.get(kind, []) if v not in ("", 0, [], {})][:6]
        element = [e for e in element if e is not None] or [lit(v) for v in (1, 2, 3)]
        shapes = [element[:1], element[:3], element[1:2], element[::-1][:2]]
        hinted = self.hint_vals(hint, 1) if hint is not None else []
        zero = [v for v in hinted if v is not None and v.text in ("0", "0.0")]
        shapes += [zero[:1] * 2] if zero else []  # all zeros: what a norm or a division refuses
        return [OMIT] + [Val("*", items=shape) for shape in shapes if shape]

    def kwargs_candidates(self, facts):
        out = [OMIT]
        keys = [k for k in facts.keys if isinstance(k, str) and k.isidentifier()]
        if keys:
            out.append(Val("**", items=[(k, lit(_value_for_key(k))) for k in keys]))
        out.append(Val("**", items=[("key", lit("value"))]))
        out.append(Val("**", items=[("a", lit(1)), ("b", lit(2))]))
        return out

    def doctest_seeds(self, target, params, lists):
        """Index tuples for doctest calls of the unit, adding their values to the lists."""
        name = target.cls.__name__ if target.kind == "constructor" else target.name
        seeds = []
        for call in self.index.doctests_for(name)[:8]:
            chosen = self._doctest_choice(call, params)
            if chosen is None:
                continue
            combo = []
            for position, val in enumerate(chosen):
                column = lists[position]
                found = next((i for i, v in enumerate(column) if v is val or (
                    v.text is not None and v.text == val.text and val.text not in ("*", "**"))), None)
                if found is None:
                    column.insert(1 if column and column[0] is OMIT else 0, val)
                    found = 1 if column[0] is OMIT and val is not OMIT else 0
                    seeds = [tuple(i + 1 if d == position and i >= found else i for d, i in enumerate(s))
                             for s in seeds]
                combo.append(found)
            seeds.append(tuple(combo))
        return seeds

    def _doctest_choice(self, call, params):
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        chosen = {}
        positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                      inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        star = next((p for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL), None)
        vals = [self.val_from_node(a) for a in call.args]
        if any(v is None for v in vals):
            return None
        if len(vals) > len(positional) and star is None:
            return None
        for param, val in zip(positional, vals):
            chosen[param.name] = val
        if star is not None and len(vals) > len(positional):
            chosen[star.name] = Val("*", items=vals[len(positional):])
        extra = []
        for keyword in call.keywords:
            val = self.val_from_node(keyword.value)
            if val is None:
                return None
            if any(p.name == keyword.arg and p.kind is not inspect.Parameter.VAR_POSITIONAL for p in params):
                chosen[keyword.arg] = val
            else:
                extra.append((keyword.arg, val))
        out = []
        for param in params:
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                out.append(Val("**", items=extra) if extra else OMIT)
            elif param.name in chosen:
                out.append(chosen[param.name])
            elif param.default is not inspect.Parameter.empty or param.kind is inspect.Parameter.VAR_POSITIONAL:
                out.append(OMIT)
            else:
                return None
        if extra and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return out

    def val_from_node(self, node):
        """A Val for a doctest argument: a literal, or one of the file's classes built from literals."""
        try:
            return lit(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            cls = getattr(self.module, node.func.id, None)
            if isinstance(cls, type) and self._is_local(cls):
                args = [self.val_from_node(a) for a in node.args]
                kwargs = [(k.arg, self.val_from_node(k.value)) for k in node.keywords]
                if all(a is not None for a in args) and all(k and v is not None for k, v in kwargs):
                    items = [ArgItem("", a, False) for a in args] + [ArgItem(k, v, True) for k, v in kwargs]
                    return _instance_val(cls, items)
        return None

    def forwarded_vals(self, target, names):
        """Per parameter passed on to another unit of the file (`parse_time(start)`), the values
        that unit's kept cases used in that place: calls that returned first."""
        out = {}
        if target.node is None:
            return out
        container = self._container_of(target) if target.cls is not None else None
        for name, key, slot in _forwards(target.node, names, self.module, container):
            found = self.kept_args.get(key, {}).get(slot, [])
            ordered = [v for v, ok in found if ok] + [v for v, ok in found if not ok]
            out[name] = _unique_vals(out.get(name, []) + ordered)
        if container is not None:
            # A sibling method's parameter of the same name (put(key) / delete(key)) takes the
            # same values: those of its calls that returned.
            for (owner, unit), slots in self.kept_args.items():
                if owner == container and unit != target.name:
                    for name in names:
                        out[name] = _unique_vals(out.get(name, []) + [v for v, ok in slots.get(name, []) if ok][:3])
        return out

    def remember_args(self, target, items, returned):
        key = (self._container_of(target) if target.cls is not None else None, target.name)
        slots = self.kept_args.setdefault(key, {})
        positional = [item for item in items if not item.keyword]
        for i, item in enumerate(positional):
            slots.setdefault("#%d" % i, []).append((item.val, returned))
        for item in items:
            slots.setdefault(item.name, []).append((item.val, returned))

    # -- the file's own classes --

    def _is_local(self, cls):
        """A class defined at the top of the file (tests can name it)."""
        return getattr(cls, "__module__", None) == self.module.__name__ and \
            getattr(self.module, cls.__name__, None) is cls

    def _is_local_any(self, cls):
        """A class defined in the file, nested ones included (its objects are asserted by fields)."""
        found = self.module
        for part in getattr(cls, "__qualname__", "<locals>").split("."):
            found = getattr(found, part, None)
        return getattr(cls, "__module__", None) == self.module.__name__ and found is cls

    def local_classes(self):
        return [v for v in vars(self.module).values()
                if isinstance(v, type) and self._is_local(v) and not issubclass(v, BaseException)]

    def named_instances(self, name, owner):
        """Instances for a parameter named after a class of the file (or `other` in its methods)."""
        low = name.lower().replace("_", "")
        for cls in self.local_classes():
            cname = cls.__name__.lower()
            if low == cname or low.endswith(cname) or (name == "other" and cls is owner):
                return self.instances(cls)
        return []

    def any_instances(self):
        out = []
        for cls in self.local_classes()[:3]:
            out += self.instances(cls)[:1]
        return out

    def instances(self, cls):
        if issubclass(cls, enum.Enum):
            return self.hint_vals(cls, 0)
        return [_instance_val(cls, items) for items in self.pool(cls)]

    def pool(self, cls):
        """Working constructor arguments for cls (explored once, cached): up to 10, diverse first."""
        if cls in self.pools:
            return self.pools[cls]
        if cls in self.building or len(self.building) > 2:
            return []
        self.building.append(cls)
        try:
            target = self._constructor(cls, cls.__name__)
            found = [] if isinstance(target, str) else self._find_constructions(target)
        finally:
            self.building.pop()
        self.pools[cls] = found
        return found

    def _find_constructions(self, target):
        lists, seeds = self.candidates(target)
        if any(not column for column in lists):
            return []
        # Random picks rather than one parameter at a time: receivers need varied states.
        stream = Combos([len(c) for c in lists], seeds, self.rng, structured=False)
        found, states, lines, arcs = [], [], set(), set()
        stop = time.monotonic() + max(0.05, min(1.0, (self.deadline - time.monotonic()) / 10))
        for tries, combo in enumerate(stream):
            if tries >= 80 or len(found) >= 10 or time.monotonic() > stop:
                break
            items = bind(target.params, [lists[d][i] for d, i in enumerate(combo)])
            if items is None:
                continue
            run = self.call(target, None, items, lambda r: r.status == "returned")
            if run.status != "returned" or run.obs is None:
                continue
            state = run.obs.get("object")
            if not (run.lines - lines or run.arcs - arcs) and state in states:
                continue
            lines |= run.lines
            arcs |= run.arcs
            states.append(state)
            found.append(items)
            stream.kept.append(combo)
        return found

    def receivers(self, target):
        """Receiver variants: each working construction, then preludes of the class's other
        methods (calls already seen to succeed first), alone, repeated and paired."""
        cls, container = target.cls, self._container_of(target)
        pool = self.pool(cls)
        if not pool:
            return []
        plain = [Receiver(cls, container, items, []) for items in pool]
        preludes = [self._prelude_calls(cls, container, name) for name in self._mutators(cls)]
        preludes = [calls for calls in preludes if calls]
        self.prelude_options[cls] = (pool, preludes)
        first = pool[0]
        out = [plain[0]]
        out += [Receiver(cls, container, first, [calls[0]]) for calls in preludes]
        out += plain[1:]
        out += [Receiver(cls, container, first, calls[:2]) for calls in preludes if len(calls) > 1]
        out += [Receiver(cls, container, first, [c1[0], c2[0]])
                for c1, c2 in itertools.permutations(preludes, 2)]
        out += [Receiver(cls, container, first, [calls[0]] * 3) for calls in preludes]
        out += [Receiver(cls, container, items, [calls[0]]) for items in pool[1:] for calls in preludes]
        out += [Receiver(cls, container, first, [call]) for calls in preludes for call in calls[1:]]
        return out[:MAX_RECEIVERS]

    def _prelude_calls(self, cls, container, name):
        """Argument lists for calling method `name` before the unit: known-good ones first."""
        calls = [(name, items) for items in self.good_calls.get((cls, name), [])[:2]]
        method = Target("method", cls, name, inspect.getattr_static(cls, name), [], None)
        method.params = _params(method.fn, True)
        method.node = self.index.definition(container, name)
        lists, seeds = self.candidates(method, owner=cls)
        if any(not column for column in lists):
            return calls
        combos = list(seeds[:1]) + [tuple(0 for _ in lists)]
        for d, column in enumerate(lists):
            combos += [tuple(j if e == d else 0 for e in range(len(lists))) for j in range(1, min(5, len(column)))]
        fresh = []
        for combo in combos:
            items = bind(method.params, [lists[d][i] for d, i in enumerate(combo)])
            if items is not None and all(args_text(items) != args_text(prev) for _, prev in calls + fresh):
                fresh.append((name, items))
        # Calls seen to work on a fresh object first: a prelude that raises voids the receiver.
        pool = self.pools.get(cls) or []
        works = [call for call in fresh if pool and self._prelude_works(cls, container, pool[0], call)]
        return (calls + works + [call for call in fresh if call not in works])[:5]

    def _prelude_works(self, cls, container, ctor_items, call):
        def body():
            random.seed(0)
            Receiver(cls, container, ctor_items, [call]).build()
        status, _ = guarded(body, min(self.timeout, 0.2))
        _hygiene(self.io_state)
        return status == "ok"

    def _container_of(self, target):
        return getattr(target, "container", None) or target.cls.__qualname__

    def _mutators(self, cls):
        names = []
        for klass in cls.__mro__:
            if klass is object or not self._is_local_any(klass):
                continue
            for name, raw in vars(klass).items():
                if name.startswith("_") or name in names or not inspect.isfunction(raw):
                    continue
                if inspect.isasyncgenfunction(raw):
                    continue
                names.append(name)
        return names[:8]

    # -- search --

    def search(self, target, report, deadline):
        owner = target.cls if target.kind in ("method", "static") else None
        lists, seeds = self.candidates(target, owner)
        receivers = None
        if target.kind == "method":
            receivers = self.receivers(target)
            if not receivers:
                report["note"] = "no instance of %s could be built from literal arguments" % target.cls.__name__
                return
            lists = [receivers] + lists
            seeds = [(0,) + s for s in seeds]
        if any(not column for column in lists):
            report["note"] = "no candidate value for a parameter"
            return
        stream = Combos([len(c) for c in lists], seeds, self.rng,
                        mutate=self._mutation(target, lists, receivers is not None))
        lines, arcs = set(), set()
        streak = 0
        bad_receivers = set()
        timeout, slowest = self.timeout, 0.0
        late_timeouts = 0   # random phase: mutants that hang say the search has left the useful ground
        late_waste = 0.0    # random phase: seconds spent in calls that hung or recursed too deep
        endings = {}

        def worth(run):
            new_lines, new_arcs = run.lines - lines, run.arcs - arcs
            if run.status == "raised" and self._cheap_error(run.exc):
                return bool(new_lines)
            return run.status in ("returned", "raised") and bool(new_lines or new_arcs)

        for combo in stream:
            if time.monotonic() >= deadline or report["tried"] >= MAX_TRIES_PER_UNIT \
                    or len(report["cases"]) >= self.max_cases:
                break
            if stream.random_phase and (streak >= NO_GAIN_STREAK or late_timeouts >= RANDOM_TIMEOUTS
                                        or late_waste > RANDOM_WASTE):
                break
            chosen = [lists[d][i] for d, i in enumerate(combo)]
            receiver = None
            if receivers is not None:
                if combo[0] in bad_receivers:
                    continue
                receiver, chosen = chosen[0], chosen[1:]
            items = bind(target.params, chosen)
            if items is None:
                continue
            report["tried"] += 1
            run = self.call(target, receiver, items, worth, timeout=timeout)
            endings[run.status] = endings.get(run.status, 0) + 1
            if stream.random_phase and run.status in ("timeout", "recursion"):
                late_waste += run.seconds
            if run.status == "timeout":
                late_timeouts += stream.random_phase
                # Once a call hangs, more will: abandon later ones sooner than the full timeout.
                timeout = min(self.timeout, max(0.05, 20 * slowest))
            else:
                slowest = max(slowest, run.seconds)
            if run.status == "invalid" and receiver is not None and run.exc == "receiver":
                bad_receivers.add(combo[0])
            if run.obs is None:
                streak += 1
                continue
            # Replays from scratch, with the global `random` seeded differently each time, so
            # results depending on time, randomness or identity show up as unstable.
            replays = [self.call(target, receiver, items, lambda r: True, trace=False, timeout=timeout)
                       for _ in range(REPLAYS)]
            report["tried"] += REPLAYS
            case = self.case(target, receiver, items, [run.obs] + [r.obs for r in replays])
            if case is None:
                streak += 1
                continue
            streak = 0
            lines |= run.lines
            arcs |= run.arcs
            stream.kept.append(combo)
            report["cases"].append(case)
            if target.kind == "method" and case["outcome"]["kind"] != "raised":
                self.good_calls.setdefault((target.cls, target.name), []).append(items)
                self._add_prelude(target.cls, (target.name, items))
            self.remember_args(target, items, case["outcome"]["kind"] != "raised")
        if not report["cases"] and endings:
            report["note"] = _why_nothing(endings)

    def _mutation(self, target, lists, with_receivers):
        """The callback Combos uses to grow a candidate list with a mutant of one of its entries."""
        limits = [len(column) + MAX_MUTANTS for column in lists]
        known = [{v.text: i for i, v in enumerate(column) if v is not OMIT and isinstance(v, Val)}
                 for column in lists]
        mutators = {}

        def mutate(d, index):
            column = lists[d]
            if len(column) >= limits[d]:
                return None
            if with_receivers and d == 0:
                new = self.mutate_receiver(column[index])
                text = None if new is None else json.dumps(new.json())
            else:
                if d not in mutators:
                    pieces = [_read_literal(v.text) for v in column
                              if v.text and v.items is None and v.parts is None]
                    mutators[d] = Mutator(self.rng, [value for ok, value in pieces if ok])
                new = mutators[d].val(column[index])
                text = None if new is None else new.text
            if new is None:
                return None
            if text in known[d]:
                return known[d][text]
            known[d][text] = len(column)
            column.append(new)
            return len(column) - 1

        return mutate

    def _add_prelude(self, cls, call):
        """A call that just worked becomes a prelude option for later receivers of the class."""
        pool, preludes = self.prelude_options.get(cls, ([], []))
        group = next((g for g in preludes if g and g[0][0] == call[0]), None)
        if group is None:
            preludes.append([call])
        elif len(group) < 12:
            group.append(call)
        self.prelude_options[cls] = (pool, preludes)

    def mutate_receiver(self, receiver):
        """A receiver one edit away: a prelude call added, dropped, swapped for another of the
        same method or with a mutated argument, or another construction."""
        pool, preludes = self.prelude_options.get(receiver.cls, ([], []))
        rng = self.rng
        calls = list(receiver.calls)
        ctor = receiver.ctor_items
        move = rng.randrange(5)
        if (move == 0 or not calls) and preludes and len(calls) < 6:
            calls.insert(rng.randrange(len(calls) + 1) if rng.random() < 0.3 else len(calls),
                         rng.choice(rng.choice(preludes)))
        elif move == 1 and calls:
            del calls[rng.randrange(len(calls))]
        elif move == 2 and calls:
            i = rng.randrange(len(calls))
            same = [c for group in preludes for c in group if c[0] == calls[i][0]]
            if same:
                calls[i] = rng.choice(same)
        elif move == 3 and calls:
            i = rng.randrange(len(calls))
            name, items = calls[i]
            if not items:
                return None
            pieces = [value for ok, value in (_read_literal(item.val.text) for item in items) if ok]
            j = rng.randrange(len(items))
            new = Mutator(rng, pieces).val(items[j].val)
            if new is None:
                return None
            items = list(items)
            items[j] = ArgItem(items[j].name, new, items[j].keyword)
            calls[i] = (name, items)
        elif pool:
            ctor = rng.choice(pool)
        else:
            return None
        return Receiver(receiver.cls, receiver.container, ctor, calls)

    def _cheap_error(self, exc):
        """A TypeError/AttributeError the code did not raise itself: likely our wrong-typed argument."""
        if not isinstance(exc, (TypeError, AttributeError)):
            return False
        tb, last = exc.__traceback__, None
        while tb is not None:
            if self.tracer._is_ours(tb.tb_frame.f_code):
                last = tb.tb_lineno
            tb = tb.tb_next
        return last is None or not self.index.is_raise(last)

    # -- one call --

    def call(self, target, receiver, items, worth, trace=True, timeout=None):
        """Build everything fresh, make the call under the timer, observe it when worth(run)."""
        run = Run()

        user_seed = self.rng.getrandbits(32)

        def body():
            # The user's `random` is seeded from ours: exploration is reproducible, replays differ.
            random.seed(user_seed)
            try:
                obj = receiver.build() if receiver is not None else None
                args, kwargs = materialize(items)
            except _Invalid:
                run.exc = "receiver"
                return
            before = self.state(obj) if obj is not None else {}
            snapshots = {i: literal(a) for i, a in enumerate(args) if isinstance(a, (list, dict, set, bytearray))}
            awaited, collect, overflow = False, None, False
            if trace:
                self.tracer.start()
            try:
                value = self.invoke(target, obj, args, kwargs)
                if inspect.iscoroutine(value):
                    awaited = True
                    value = asyncio.run(value)
                if self._iterable_result(value):
                    collect = "list"
                    value = list(itertools.islice(value, MAX_ITEMS + 1))
                    overflow = len(value) > MAX_ITEMS
                run.status, run.value = "returned", value
            except RecursionError:
                run.status = "recursion"
            except CallTimeout:
                raise
            except BaseException as exc:
                run.status, run.exc = "raised", exc
            finally:
                if trace:
                    self.tracer.stop()
                    run.lines, run.arcs = self.tracer.lines, self.tracer.arcs
            if worth(run):
                run.obs = self.observe(run, obj, before, args, kwargs, items, snapshots, awaited, collect,
                                       overflow)

        began = time.monotonic()
        status, error = guarded(body, timeout or self.timeout)
        run.seconds = time.monotonic() - began
        _hygiene(self.io_state)
        if status == "timeout":
            run.status, run.obs = "timeout", None
        elif status == "error":
            run.status, run.obs = ("recursion" if isinstance(error, RecursionError) else "invalid"), None
        return run

    def invoke(self, target, obj, args, kwargs):
        if target.kind == "constructor":
            return target.cls(*args, **kwargs)
        if target.kind == "method":
            return getattr(obj, target.name)(*args, **kwargs)
        if target.kind == "static":
            return getattr(target.cls, target.name)(*args, **kwargs)
        return getattr(self.module, target.name)(*args, **kwargs)

    def _iterable_result(self, value):
        if isinstance(value, types.GeneratorType):
            return True
        kind = type(value)
        return isinstance(value, collections.abc.Iterator) and kind.__module__ in ("builtins", "itertools") \
            and not isinstance(value, io.IOBase)

    # -- observing --

    def state(self, obj):
        """The public literal state of an object: name -> (text, approx)."""
        out = {}
        cls = type(obj)
        names = []
        if dataclasses.is_dataclass(obj):
            names += [f.name for f in dataclasses.fields(obj)]
        names += [n for n in getattr(obj, "__dict__", {}) if not n.startswith("_")]
        for klass in cls.__mro__:
            if klass is object or not self._is_local_any(klass):
                continue
            for name, raw in vars(klass).items():
                if name.startswith("_"):
                    continue
                if isinstance(raw, property) or (name in getattr(klass, "__slots__", ())):
                    names.append(name)
        for name in dict.fromkeys(names):
            try:
                value = getattr(obj, name)
            except Exception:
                continue
            if callable(value):
                continue
            found = literal(value)
            if found is not None:
                out[name] = found
        return out

    def observe(self, run, obj, before, args, kwargs, items, snapshots, awaited, collect, overflow):
        obs = {"awaited": awaited, "collect": collect, "args_after": {}, "recv_after": {}}
        if run.status == "raised":
            exc = run.exc
            name, is_builtin = self.exception_name(exc)
            obs.update(kind="raised", exc=(name, is_builtin, str(exc)[:MAX_MESSAGE_CHARS]))
        else:
            value = run.value
            obs["kind"] = "returned"
            obs["type"] = builtin_type_name(value)
            obs["value"] = None if overflow else literal(value)
            obs["object"] = None
            if overflow:
                obs["collect"], obs["type"] = None, "object"
            elif obs["value"] is None and self._is_local_any(type(value)) and not isinstance(value, BaseException):
                obs["object"] = (type(value).__name__, self.state(value))
        positions = [i for i, item in enumerate(items) if not item.keyword]
        for index, snapshot in snapshots.items():
            after = literal(args[index])
            if after is not None and snapshot is not None and after[0] != snapshot[0] and index < len(positions):
                obs["args_after"][positions[index]] = after
        if obj is not None:
            after = self.state(obj)
            obs["recv_after"] = {k: v for k, v in after.items() if before.get(k) != v}
        return obs

    def exception_name(self, exc):
        kind = type(exc)
        if kind.__module__ == "builtins" and getattr(builtins, kind.__name__, None) is kind:
            return kind.__name__, True
        if self._is_local(kind):
            return kind.__name__, False
        for base in kind.__mro__:
            if base.__module__ == "builtins" and getattr(builtins, base.__name__, None) is base:
                return base.__name__, True
        return "BaseException", True

    def case(self, target, receiver, items, runs):
        """The CASE for a kept call from its observed runs (the first, then replays from scratch);
        None when they disagree on what happened. Values that differ become unstable."""
        first = runs[0]
        if any(obs is None or obs["kind"] != first["kind"] for obs in runs):
            return None
        if first["kind"] == "raised":
            if any(obs["exc"][:2] != first["exc"][:2] for obs in runs):
                return None
            name, is_builtin, message = first["exc"]
            stable = all(obs["exc"][2] == message for obs in runs)
            outcome = {"kind": "raised", "type": name, "builtin": is_builtin, "message": message if stable else ""}
        elif all(obs["object"] is not None and obs["object"][0] == first["object"][0] for obs in runs):
            fields = _stable_fields([obs["object"][1] for obs in runs])
            outcome = {"kind": "returned_object", "type": first["object"][0], "fields": fields}
        elif _agree([obs["value"] for obs in runs]):
            outcome = {"kind": "returned", "value": first["value"][0], "approx": first["value"][1]}
        else:
            same_type = all(obs["type"] == first["type"] for obs in runs)
            outcome = {"kind": "returned_unstable", "type": first["type"] if same_type else "object"}
        args_after = [{"index": i, "value": v[0], "approx": v[1]} for i, v in first["args_after"].items()
                      if _agree([obs["args_after"].get(i) for obs in runs])]
        recv_after = _stable_fields([obs["recv_after"] for obs in runs])
        if target.kind == "constructor" and outcome["kind"] == "returned_object":
            recv_after = outcome["fields"]  # the contract: a constructor's receiver_after is the new object's state
        return {
            "receiver": receiver.json() if receiver is not None else None,
            "static": target.kind == "static",
            "arguments": args_json(items),
            "awaited": first["awaited"],
            "collect": first["collect"] if outcome["kind"] != "raised" else None,
            "outcome": outcome,
            "arguments_after": args_after,
            "receiver_after": recv_after,
        }


def _same(a, b):
    """Two (text, approx) observations of one value agree."""
    if a[0] == b[0]:
        return True
    try:
        return ast.literal_eval(a[0]) == ast.literal_eval(b[0])
    except Exception:
        return False


def _why_nothing(endings):
    """One sentence on why no call was kept, from how the calls ended."""
    if endings.get("timeout") and not endings.get("returned") and not endings.get("raised"):
        return "every call ran longer than the call timeout"
    if endings.get("recursion") and not endings.get("returned") and not endings.get("raised"):
        return "every call exhausted the recursion limit"
    if endings.get("invalid") and not endings.get("returned") and not endings.get("raised"):
        return "no receiver or argument could be built for any call"
    return "no call gave a result that two independent runs agreed on"


def _agree(values):
    """Every run observed this value (text, approx), and all equal."""
    return all(v is not None for v in values) and all(_same(values[0], v) for v in values[1:])


def _stable_fields(states):
    """Fields (name -> (text, approx)) equal in every run, as contract Fields."""
    return [{"name": k, "value": v[0], "approx": v[1]} for k, v in states[0].items()
            if _agree([state.get(k) for state in states])]


def _instance_val(cls, items):
    return Val("%s(%s)" % (cls.__name__, args_text(items)), lambda: cls(*materialize(items)[0],
                                                                        **materialize(items)[1]),
               parts=("new", cls, items))


def _unique_vals(values):
    seen = set()
    out = []
    for val in values:
        if val is None:
            continue
        key = "<omit>" if val is OMIT else val.text
        if key not in seen:
            seen.add(key)
            out.append(val)
    return out


def _value_for_key(key):
    kinds = kinds_by_name(str(key))
    if kinds:
        return KIND_VALUES[kinds[0]][min(1, len(KIND_VALUES[kinds[0]]) - 1)]
    return 1


def _kind_filter(kinds):
    """Which body constants suit a parameter of these kinds (any, when the kinds are unknown)."""
    if not kinds:
        return lambda v: True
    accepted = set()
    for kind in kinds:
        accepted |= {"int": {int}, "float": {float, int}, "str": {str}, "bytes": {bytes},
                     "list": {list}, "numlist": {list}, "strlist": {list}, "dict": {dict},
                     "bool": {bool}, "none": {type(None)}, "tuple": {tuple}, "set": {set},
                     "matrix": {list}}.get(kind, set())
    return lambda v: type(v) in accepted


def _hint_kinds(hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(hint, types.UnionType)):
        return [k for arg in args for k in _hint_kinds(arg)]
    table = {int: "int", float: "float", str: "str", bytes: "bytes", bool: "bool", list: "list",
             dict: "dict", tuple: "tuple", set: "set", type(None): "none"}
    base = origin or hint
    if base in table:
        return [table[base]]
    if base in (collections.abc.Sequence, collections.abc.Iterable):
        return ["list"]
    return []


def _sequences(elements, shape):
    """Containers of candidate elements: empty, one, three, reversed, a repeat, many."""
    if not elements:
        return [compose([], shape)]
    e = elements
    shapes = ([], e[:1], e[:3], list(reversed(e[:3])), [e[0], e[0]], e[:6], e[1:2], e[1:4],
              list(reversed(e[:6])))
    return _unique_vals([compose(s, shape) for s in shapes])


def compose(vals, shape):
    """A list/tuple/set candidate built from candidate elements (literals or instances)."""
    texts = [v.text for v in vals]
    if shape is list:
        text = "[" + ", ".join(texts) + "]"
    elif shape is tuple:
        text = "(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")"
    else:
        text = "{" + ", ".join(texts) + "}" if texts else "set()"
    return Val(text, lambda: shape(v.make() for v in vals), parts=("seq", shape, list(vals)))


def compose_dict(pairs):
    text = "{" + ", ".join(k.text + ": " + v.text for k, v in pairs) + "}"
    return Val(text, lambda: {k.make(): v.make() for k, v in pairs})


def _hashable_literal(val):
    try:
        hash(ast.literal_eval(val.text))
        return True
    except Exception:
        return False


def _params(fn, drop_first):
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if drop_first and params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                    inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    return params


def _hints(fn, module):
    """Resolved type hints of fn; unresolvable ones are tried one by one in the module's namespace."""
    if isinstance(fn, type):
        fn = fn.__init__ if "__init__" in vars(fn) or not dataclasses.is_dataclass(fn) else fn
        if isinstance(fn, type):
            try:
                return {f.name: f.type for f in dataclasses.fields(fn) if not isinstance(f.type, str)}
            except TypeError:
                return {}
    try:
        return typing.get_type_hints(fn)
    except Exception:
        pass
    out = {}
    for name, hint in getattr(fn, "__annotations__", {}).items():
        if isinstance(hint, str):
            try:
                hint = eval(hint, vars(module))  # a forward reference, in the module's own namespace
            except Exception:
                continue
        out[name] = hint
    return out


# --- mutation: new values from kept ones (random phase) -------------------------------------

MAX_MUTANTS = 150            # new candidates a parameter may gain by mutation
EXTRA_CHARS = "aZ0 .:-_@/,"


class Mutator:
    """Makes a new candidate from a kept one by a small random edit. `pieces` are the literal
    values among the parameter's candidates: their characters and numbers are reused."""

    def __init__(self, rng, pieces):
        self.rng = rng
        self.pieces = pieces
        chars = {c for p in pieces if isinstance(p, str) for c in p}
        self.alphabet = sorted(chars | set(EXTRA_CHARS))
        self.numbers = [p for p in pieces if isinstance(p, int) and not isinstance(p, bool)]
        self.strings = [p for p in pieces if isinstance(p, str) and p]

    def val(self, val, depth=0):
        """A mutated Val, or None when val cannot be mutated."""
        if val is OMIT or val is None or depth > 3:
            return None
        if val.text == "*" and val.items is not None:
            items = self.items(list(val.items), depth)
            return Val("*", items=items) if items is not None else None
        if val.parts is not None:
            kind, shape, members = val.parts
            if kind == "seq":
                members = self.items(list(members), depth)
                return compose(members, shape) if members is not None else None
            items = list(members)
            if not items:
                return None
            i = self.rng.randrange(len(items))
            new = self.val(items[i].val, depth + 1)
            if new is None:
                return None
            items[i] = ArgItem(items[i].name, new, items[i].keyword)
            return _instance_val(shape, items)
        ok, value = _read_literal(val.text) if val.text else (False, None)
        return lit(self.value(value, depth)) if ok else None

    def items(self, items, depth):
        """A list of Vals with one element added, dropped, repeated, swapped or mutated."""
        rng = self.rng
        move = rng.randrange(5) if items else 0
        if move == 0:
            extra = self.val(items[rng.randrange(len(items))], depth + 1) if items else lit(self.any())
            if extra is None:
                extra = items[rng.randrange(len(items))]
            items.insert(rng.randrange(len(items) + 1), extra)
        elif move == 1:
            del items[rng.randrange(len(items))]
        elif move == 2:
            items.append(items[rng.randrange(len(items))])
        elif move == 3 and len(items) > 1:
            i = rng.randrange(len(items) - 1)
            items[i], items[i + 1] = items[i + 1], items[i]
        else:
            i = rng.randrange(len(items))
            new = self.val(items[i], depth + 1)
            if new is None:
                return None
            items[i] = new
        return items

    def any(self):
        return self.rng.choice(self.pieces) if self.pieces else self.rng.choice([0, 1, "a"])

    def value(self, value, depth=0):
        rng = self.rng
        if isinstance(value, bool):
            return not value
        if isinstance(value, int):
            options = [value + 1, value - 1, -value, value * 2, value // 2, rng.randint(-10, 100)]
            options += [rng.choice(self.numbers) + rng.choice((-1, 0, 1))] if self.numbers else []
            if rng.random() < 0.05:
                return rng.choice([str(value), float(value), None])  # a wrong type, now and then
            return rng.choice(options)
        if isinstance(value, float):
            return rng.choice([value + 0.5, value - 0.5, -value, value * 2, value / 2, 0.0, float(round(value))])
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (list, tuple)) and depth < 3:
            items = list(value)
            move = rng.randrange(4) if items else 0
            if move == 0:
                pick = items[rng.randrange(len(items))] if items else self.any()
                items.insert(rng.randrange(len(items) + 1), self.value(pick, depth + 1) if items else pick)
            elif move == 1:
                del items[rng.randrange(len(items))]
            elif move == 2 and len(items) > 1:
                i, j = rng.randrange(len(items)), rng.randrange(len(items))
                items[i], items[j] = items[j], items[i]
            else:
                i = rng.randrange(len(items))
                items[i] = self.value(items[i], depth + 1)
            return type(value)(items)
        if isinstance(value, dict) and value and depth < 3:
            out = dict(value)
            key = rng.choice(list(out))
            if rng.random() < 0.3:
                del out[key]
            else:
                out[key] = self.value(out[key], depth + 1)
            return out
        if value is None:
            return self.any()
        return value

    def text(self, text):
        rng = self.rng
        i = rng.randrange(len(text) + 1)
        char = rng.choice(self.alphabet)
        move = rng.randrange(8) if text else 0
        if move == 0:
            return text[:i] + char + text[i:]
        j = min(i, len(text) - 1)
        if move == 1:
            return text[:j] + text[j + 1:]
        if move == 2:
            return text[:j] + char + text[j + 1:]
        if move == 3:
            return text[:j + 1] + text[j:]  # a repeated character
        if move == 4 and len(text) > 1:
            j = min(j, len(text) - 2)
            return text[:j] + text[j + 1] + text[j] + text[j + 2:]
        if move == 5 and self.strings:
            return text + rng.choice(self.strings) if rng.random() < 0.5 else rng.choice(self.strings) + text
        if move == 6:
            return text.upper() if text != text.upper() else text.lower()
        k = rng.randint(1, 3)
        return text[:j] + text[j:j + k] * 2 + text[j + k:]  # a repeated piece


class Combos:
    """Index tuples over the candidate lists: doctest seeds, the first candidates, each dimension
    varied alone (round robin), then seeded random picks and one-dimension mutations of kept ones."""

    def __init__(self, sizes, seeds, rng, structured=True, mutate=None):
        self.sizes, self.seeds, self.rng = sizes, seeds, rng
        self.structured = structured
        self.mutate = mutate   # (dimension, index) -> index of a new candidate, or None
        self.kept = []
        self.random_phase = False

    def __iter__(self):
        seen = set()

        def fresh(combo):
            if combo in seen:
                return False
            seen.add(combo)
            return True

        for seed in self.seeds:
            if fresh(seed):
                yield seed
        base = self.seeds[0] if self.seeds else tuple(0 for _ in self.sizes)
        if fresh(base):
            yield base
        for j in range(1, max(self.sizes, default=1) if self.structured else 1):
            for d, size in enumerate(self.sizes):
                if j < size:
                    combo = base[:d] + (j,) + base[d + 1:]
                    if fresh(combo):
                        yield combo
        self.random_phase = True
        repeats = 0
        while repeats < 200 and self.sizes:
            if self.kept and self.rng.random() < 0.6:
                combo = list(self.rng.choice(self.kept))
                for _ in range(self.rng.choice((1, 1, 2))):
                    d = self.rng.randrange(len(self.sizes))
                    combo[d] = self._vary(d, combo[d])
                combo = tuple(combo)
            else:
                combo = tuple(self._pick(d) for d in range(len(self.sizes)))
            if fresh(combo):
                repeats = 0
                yield combo
            else:
                repeats += 1

    def _vary(self, d, index):
        """Another candidate for dimension d: half the time a mutant of the kept one."""
        if self.mutate is not None and self.rng.random() < 0.5:
            new = self.mutate(d, index)
            if new is not None:
                self.sizes[d] = max(self.sizes[d], new + 1)
                return new
        return self._pick(d)

    def _pick(self, d):
        # Structured search favours the first (most meaningful) candidates; otherwise uniform.
        bias = 1.5 if self.structured else 1.0
        return min(self.sizes[d] - 1, int(self.sizes[d] * self.rng.random() ** bias))


# --- entry -----------------------------------------------------------------------------------


def _fix_hash_seed(argv):
    """Re-run with PYTHONHASHSEED=0 so set/dict iteration over strings is reproducible."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        try:
            os.execve(sys.executable, [sys.executable] + argv, env)
        except OSError:
            pass  # carry on with this interpreter's seed


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: explore.py request.json result.json\n")
        return 2
    _fix_hash_seed(argv)
    with open(argv[1], encoding="utf-8") as handle:
        request = json.load(handle)
    sys.setrecursionlimit(RECURSION_LIMIT)
    signal.signal(signal.SIGALRM, _on_alarm)
    explorer = Explorer(request, os.path.abspath(argv[2]))
    real = (sys.stdout, sys.stderr, sys.stdin)
    try:
        explorer.run()
    finally:
        sys.stdout, sys.stderr, sys.stdin = real
    explorer.write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
