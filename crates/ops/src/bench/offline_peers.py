#!/usr/bin/env python3
"""Peers of the offline generator for `cargo xtask bench offline`: Pynguin and `crosshair cover`.

Standard library only (the tools themselves live in a venv this script creates).

    offline_peers.py setup --venv DIR
        Creates a venv at DIR with pynguin, crosshair-tool, pytest and coverage, smoke-tests
        both tools, and prints one JSON line (install seconds, venv size, what is measurable).
        The verdict is also kept in DIR/offline_peers.json for `run`.

    offline_peers.py run --venv DIR --tool pynguin|crosshair --source FILE
                         --budget-seconds N --out OUTDIR
        Runs the tool on one source file with that time budget, writes the generated test
        file(s) into OUTDIR, runs them with pytest under `coverage run --branch`, and prints
        ONE JSON line:
        {"tool", "source", "seconds", "tests", "passed", "xfailed", "line_coverage",
         "branch_coverage", "error"}
        "seconds" is the wall time of generation only; "tests" the test items pytest collected;
        "passed" those whose outcome was a success (a Pynguin test marked
        `xfail(strict=True)` that fails as expected counts as passed, and is also counted in
        "xfailed"); coverage is of the whole pytest run over the source module only
        (import-time lines included), branch coverage null when the module has no branch.
        A tool that cannot run here gives null numbers and error "not measurable here: ...".

Every subprocess runs with a timeout (budget + 60 s) in its own process group, killed whole on
timeout. The script always exits 0 after printing its JSON line, except on bad command-line
usage (exit 2, from argparse).

OUTDIR layout: project/<module>.py (a copy of the source, so tools never touch the corpus),
test_<module>*.py (the generated tests), logs/ (tool output, pytest output, coverage json).
"""

import argparse
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

# Versions known to work on Python 3.11 (checked when this was written); --pynguin / --crosshair
# on `setup` override them.
PYNGUIN_REQ = "pynguin==0.48.0"
CROSSHAIR_REQ = "crosshair-tool==0.0.113"
# Pynguin 0.48 requires pytest<9.
OTHER_REQS = ["pytest>=8.3,<9", "coverage[toml]>=7.4"]
STATUS_FILE = "offline_peers.json"
GRACE_SECONDS = 60
SETUP_TIMEOUT = 1800
SEED = 7


# ----------------------------------------------------------------------------- helpers


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def short(text, limit=300):
    """The last non-empty line(s) of some output, cut to ``limit`` characters."""
    text = (text or "").strip()
    if not text:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # Prefer the last line that looks like an error.
    for line in reversed(lines):
        if "Error" in line or "error" in line or "Exception" in line:
            return line[:limit]
    return lines[-1][:limit]


def run_proc(cmd, timeout, cwd=None, env=None, stdout_path=None):
    """Run ``cmd``; returns (returncode or None on timeout, stdout, stderr, seconds).

    The child gets its own session so that a timeout kills its whole process group (Pynguin
    starts worker processes). Output goes to temp files, never to pipes a stuck grandchild
    could hold open.
    """
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
            start_new_session=True,
        )
    except OSError as exc:
        return -1, "", f"cannot start {cmd[0]}: {exc}", 0.0
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        rc = None
        try:
            # SIGTERM first so `coverage` can save its data (sigterm = true in its rc file).
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    seconds = time.monotonic() - start
    # Leftover members of the group (workers that outlived the leader) go too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    out_f.seek(0)
    err_f.seek(0)
    out = out_f.read().decode("utf-8", "replace")
    err = err_f.read().decode("utf-8", "replace")
    out_f.close()
    err_f.close()
    if stdout_path:
        with open(stdout_path, "w", encoding="utf-8") as fh:
            fh.write(out)
            if err:
                fh.write("\n----- stderr -----\n" + err)
    return rc, out, err, seconds


def venv_bin(venv, name):
    return os.path.join(venv, "bin", name)


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def clean_env(extra=None):
    """The caller's environment without Python variables that would leak into the venv tools."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV",
                        "PYTEST_ADDOPTS", "COVERAGE_PROCESS_START", "COVERAGE_RCFILE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONHASHSEED"] = "0"
    if extra:
        env.update(extra)
    return env


# ----------------------------------------------------------------------------- setup

SMOKE_MODULE = '''\
def sign(n: int) -> str:
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"
'''


def smoke_test(venv, tool):
    """None when ``tool`` generates at least one test for a tiny module here, else the reason."""
    work = tempfile.mkdtemp(prefix=f"offline-peers-smoke-{tool}-")
    try:
        src = os.path.join(work, "smoke_mod.py")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(SMOKE_MODULE)
        out = os.path.join(work, "out")
        result = measure(venv, tool, src, 5, out, smoke=True)
        if result.get("error"):
            return result["error"]
        if not result.get("tests"):
            return "smoke test generated no test"
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cmd_setup(args):
    venv = os.path.abspath(args.venv)
    result = {"venv": venv, "python": sys.version.split()[0], "install_seconds": None,
              "venv_bytes": None, "pynguin": None, "crosshair": None, "error": None}
    try:
        import ensurepip  # noqa: F401
        import venv as _venv  # noqa: F401
    except ImportError as exc:
        result["error"] = (f"python3 cannot create venvs ({exc}); "
                           "install the Debian package python3-venv")
        emit(result)
        return
    start = time.monotonic()
    if not os.path.exists(venv_bin(venv, "python")):
        rc, out, err, _ = run_proc([sys.executable, "-m", "venv", venv], 300)
        if rc != 0:
            reason = short(err or out)
            if "ensurepip" in (err + out):
                reason = "ensurepip is missing; install the Debian package python3-venv"
            result["error"] = f"venv creation failed: {reason}"
            emit(result)
            return
    pip = [venv_bin(venv, "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    logs = os.path.join(venv, "offline_peers_logs")
    os.makedirs(logs, exist_ok=True)
    # Shared pieces and crosshair first; Pynguin alone, so its failure does not hide crosshair.
    rc, out, err, _ = run_proc(pip + [args.crosshair] + OTHER_REQS, SETUP_TIMEOUT, env=clean_env(),
                               stdout_path=os.path.join(logs, "pip-crosshair.log"))
    status = {}
    if rc != 0:
        status["crosshair"] = f"not measurable here: pip install {args.crosshair} failed: {short(err or out)}"
    rc, out, err, _ = run_proc(pip + [args.pynguin] + OTHER_REQS, SETUP_TIMEOUT, env=clean_env(),
                               stdout_path=os.path.join(logs, "pip-pynguin.log"))
    if rc != 0:
        hint = ""
        if not (3, 10) <= sys.version_info[:2] < (3, 16):
            hint = " (Pynguin 0.48 declares Requires-Python >=3.10,<3.16)"
        status["pynguin"] = (f"not measurable here: pip install {args.pynguin} failed on Python "
                             f"{sys.version.split()[0]}{hint}: {short(err or out)}")
    result["install_seconds"] = round(time.monotonic() - start, 1)
    for tool in ("crosshair", "pynguin"):
        if tool not in status:
            reason = smoke_test(venv, tool)
            status[tool] = "ok" if reason is None else (
                reason if reason.startswith("not measurable") else f"not measurable here: {reason}")
    versions = {}
    for dist in ("pynguin", "crosshair-tool", "pytest", "coverage"):
        rc, out, _err, _ = run_proc([venv_bin(venv, "python"), "-c",
                                     f"import importlib.metadata as m; print(m.version({dist!r}))"],
                                    60, env=clean_env())
        versions[dist] = out.strip() if rc == 0 else None
    with open(os.path.join(venv, STATUS_FILE), "w", encoding="utf-8") as fh:
        json.dump({"status": status, "versions": versions,
                   "python": sys.version.split()[0]}, fh, indent=2)
    result.update(pynguin=status["pynguin"], crosshair=status["crosshair"], versions=versions,
                  venv_bytes=dir_size(venv))
    emit(result)


# ----------------------------------------------------------------------------- generation


def crosshair_units(source_text):
    """Dotted targets (``func``, ``Class.method``) for ``crosshair cover``, in source order.

    Module-level functions and the methods defined in module-level classes: public ones and
    dunders (``__init__``, ``__add__``...), not ``_private`` helpers, nested functions or
    properties (CrossHair cannot target a property).
    """
    try:
        tree = ast.parse(source_text)
    except SyntaxError:
        return []
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)

    def wanted(node):
        name = node.name
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            return False
        for deco in node.decorator_list:
            if isinstance(deco, ast.Name) and deco.id == "property":
                return False
            if isinstance(deco, ast.Attribute) and deco.attr in ("setter", "getter", "deleter"):
                return False
        return True

    units = []
    for node in tree.body:
        if isinstance(node, funcs) and wanted(node):
            units.append(node.name)
        elif isinstance(node, ast.ClassDef):
            units.extend(f"{node.name}.{b.name}" for b in node.body
                         if isinstance(b, funcs) and wanted(b))
    return units


def generate_pynguin(venv, project, module, budget, out, logs):
    cmd = [venv_bin(venv, "pynguin"),
           "--project-path", project, "--module-name", module,
           "--output-path", out, "--report-dir", os.path.join(logs, "pynguin-report"),
           "--maximum-search-time", str(int(budget)), "--seed", str(SEED), "--no-rich"]
    env = clean_env({"PYNGUIN_DANGER_AWARE": "1"})
    rc, stdout, stderr, seconds = run_proc(cmd, budget + GRACE_SECONDS, cwd=logs, env=env,
                                           stdout_path=os.path.join(logs, "generate.log"))
    error = None
    if rc is None:
        error = f"pynguin timed out after {budget + GRACE_SECONDS} s"
    elif rc != 0:
        # Pynguin's ReturnCode: 1 setup failed, 2 no test generated, 3 final metrics failed
        # (tests written all the same, so they are still measured).
        error = f"pynguin exited {rc}: {short(stderr or stdout)}"
    return seconds, error


def parsable_prefix(text):
    """The longest prefix of ``text``, cut at top-level blocks, that Python can parse."""
    blocks = text.split("\n\n")
    while blocks:
        candidate = "\n\n".join(blocks)
        try:
            ast.parse(candidate)
            return candidate
        except SyntaxError:
            blocks.pop()
    return ""


def generate_crosshair(venv, project, module, budget, out, logs, source_text):
    """``crosshair cover`` once per function/method, the budget split evenly between them.

    One process per unit because a module-wide run loses everything when one unit crashes
    CrossHair (e.g. an exception class with a two-argument ``__init__``) or overruns, and it
    prints nothing before the end. CrossHair's timeouts are CPU seconds and not strict: the
    per-path timeout defaults to sqrt(per-condition timeout), with which one function of the
    corpus ran 40+ s on a 1 s per-condition timeout, so it is set to a quarter of it. Each unit
    process is killed at 4x its share + 15 s, and none starts after budget + 60 s.
    """
    units = crosshair_units(source_text)
    if not units:
        return 0.0, "crosshair: no function or method to cover"
    per_unit = max(1.0, float(budget) / len(units))
    per_path = max(0.1, per_unit / 4)
    deadline = time.monotonic() + budget + GRACE_SECONDS
    start = time.monotonic()
    failures = []
    log = open(os.path.join(logs, "generate.log"), "w", encoding="utf-8")
    try:
        for unit in units:
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                failures.append(f"{unit} (not started: file deadline)")
                continue
            cmd = [venv_bin(venv, "crosshair"), "cover", "--example_output_format=pytest",
                   "--per_condition_timeout", f"{per_unit:.2f}",
                   "--per_path_timeout", f"{per_path:.2f}", f"{module}.{unit}"]
            rc, stdout, stderr, secs = run_proc(cmd, min(remaining, 4 * per_unit + 15), cwd=project,
                                                env=clean_env({"PYTHONPATH": project}))
            log.write(f"===== {unit}: rc={rc} {secs:.1f}s\n{stdout}\n--- stderr ---\n{stderr}\n")
            code = parsable_prefix(stdout.strip())
            if "def test" in code:
                name = f"test_{module}__{unit.replace('.', '_')}.py"
                with open(os.path.join(out, name), "w", encoding="utf-8") as fh:
                    fh.write(code.rstrip() + "\n")
            if rc is None:
                failures.append(f"{unit} (timeout)")
            elif rc != 0:
                failures.append(f"{unit} ({short(stderr or stdout, 80)})")
    finally:
        log.close()
    seconds = time.monotonic() - start
    error = None
    if failures:
        error = f"crosshair failed on {len(failures)}/{len(units)} units: " + "; ".join(failures)
        error = error[:400]
    return seconds, error


# ----------------------------------------------------------------------------- measurement


def parse_junit(path):
    """(tests, passed, xfailed, collection_errors) from a pytest junit xml."""
    tree = ET.parse(path)
    tests = passed = xfailed = collection_errors = 0
    for case in tree.iter("testcase"):
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if error is not None and "collection failure" in (error.get("message") or ""):
            collection_errors += 1
            continue
        tests += 1
        if failure is not None or error is not None:
            continue
        if skipped is not None:
            if (skipped.get("type") or "") == "pytest.xfail":
                xfailed += 1
                passed += 1
            continue
        passed += 1
    return tests, passed, xfailed, collection_errors


def measure_tests(venv, project, module, source_copy, budget, out, logs):
    tests_files = sorted(f for f in os.listdir(out) if f.startswith("test_") and f.endswith(".py"))
    result = {"tests": 0, "passed": 0, "xfailed": 0, "line_coverage": 0.0,
              "branch_coverage": None, "error": None}
    if not tests_files:
        # Nothing ran, so nothing was covered (0, not null: null means "no branch to cover").
        result.update(branch_coverage=0.0, error="no test file generated")
        return result
    with open(os.path.join(out, "pytest.ini"), "w", encoding="utf-8") as fh:
        fh.write("[pytest]\naddopts = -p no:cacheprovider\n")
    rcfile = os.path.join(logs, "coveragerc")
    with open(rcfile, "w", encoding="utf-8") as fh:
        fh.write(f"[run]\nbranch = true\nsigterm = true\ndata_file = {os.path.join(logs, '.coverage')}\n")
    junit = os.path.join(logs, "junit.xml")
    env = clean_env({"PYTHONPATH": project, "PYNGUIN_DANGER_AWARE": "1"})
    cmd = [venv_bin(venv, "python"), "-m", "coverage", "run", f"--rcfile={rcfile}", "--branch",
           f"--include={source_copy}", "-m", "pytest", "-q", "-o", "console_output_style=classic",
           f"--junitxml={junit}", "--rootdir", out] + tests_files
    rc, stdout, stderr, _ = run_proc(cmd, budget + GRACE_SECONDS, cwd=out, env=env,
                                     stdout_path=os.path.join(logs, "pytest.log"))
    if rc is None:
        result["error"] = f"pytest timed out after {budget + GRACE_SECONDS} s"
    elif rc not in (0, 1):
        # 2 interrupted (e.g. collection error), 3 internal error, 4 usage, 5 no tests.
        result["error"] = f"pytest exited {rc}: {short(stdout + stderr)}"
    if os.path.exists(junit):
        try:
            tests, passed, xfailed, coll = parse_junit(junit)
            result.update(tests=tests, passed=passed, xfailed=xfailed)
            if coll and not result["error"]:
                result["error"] = f"{coll} test file(s) failed to import"
        except ET.ParseError as exc:
            result["error"] = result["error"] or f"unreadable junit xml: {exc}"
    cov_json = os.path.join(logs, "coverage.json")
    rc, cout, cerr, _ = run_proc([venv_bin(venv, "python"), "-m", "coverage", "json",
                                  f"--rcfile={rcfile}", "-o", cov_json,
                                  f"--include={source_copy}"], 120, cwd=out, env=env)
    if rc == 0 and os.path.exists(cov_json):
        with open(cov_json, encoding="utf-8") as fh:
            totals = json.load(fh).get("totals", {})
        statements = totals.get("num_statements") or 0
        branches = totals.get("num_branches") or 0
        result["line_coverage"] = round(totals.get("covered_lines", 0) / statements, 4) if statements else None
        result["branch_coverage"] = (round(totals.get("covered_branches", 0) / branches, 4)
                                     if branches else None)
    elif "No data" in (cout + cerr):
        pass  # nothing imported the module: 0 covered
    else:
        result["error"] = result["error"] or f"coverage json failed: {short(cerr or cout)}"
    return result


def measure(venv, tool, source, budget, outdir, smoke=False):
    """Generate with ``tool`` and measure; returns the result dict (never raises on tool errors)."""
    result = {"tool": tool, "source": source, "seconds": None, "tests": None, "passed": None,
              "xfailed": None, "line_coverage": None, "branch_coverage": None, "error": None}
    venv = os.path.abspath(venv)
    if not os.path.exists(venv_bin(venv, "python")):
        result["error"] = f"no venv at {venv}: run `offline_peers.py setup --venv {venv}` first"
        return result
    if not smoke:
        status_path = os.path.join(venv, STATUS_FILE)
        if os.path.exists(status_path):
            with open(status_path, encoding="utf-8") as fh:
                verdict = json.load(fh).get("status", {}).get(tool)
            if verdict and verdict != "ok":
                result["error"] = verdict
                return result
    exe = venv_bin(venv, "pynguin" if tool == "pynguin" else "crosshair")
    if not os.path.exists(exe):
        result["error"] = f"not measurable here: {os.path.basename(exe)} is not installed in {venv}"
        return result
    if not os.path.isfile(source):
        result["error"] = f"no such source file: {source}"
        return result
    module = os.path.splitext(os.path.basename(source))[0]
    if not module.isidentifier():
        result["error"] = f"file name {module!r} is not an importable module name"
        return result
    out = os.path.abspath(outdir)
    project = os.path.join(out, "project")
    logs = os.path.join(out, "logs")
    # A fresh OUTDIR each run: stale tests from an earlier run would be measured too.
    for stale in os.listdir(out) if os.path.isdir(out) else []:
        if stale.startswith("test_") or stale in ("project", "logs", "pytest.ini"):
            path = os.path.join(out, stale)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    os.makedirs(project, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    source_copy = os.path.join(project, os.path.basename(source))
    shutil.copyfile(source, source_copy)
    with open(source_copy, encoding="utf-8") as fh:
        source_text = fh.read()
    if tool == "pynguin":
        seconds, gen_error = generate_pynguin(venv, project, module, budget, out, logs)
    else:
        seconds, gen_error = generate_crosshair(venv, project, module, budget, out, logs,
                                                source_text)
    result["seconds"] = round(seconds, 2)
    measured = measure_tests(venv, project, module, source_copy, budget, out, logs)
    result.update(measured)
    # A generation error explains a missing test file better than the measurement does.
    if gen_error:
        result["error"] = gen_error
    return result


def cmd_run(args):
    result = {"tool": args.tool, "source": args.source, "seconds": None, "tests": None,
              "passed": None, "xfailed": None, "line_coverage": None, "branch_coverage": None,
              "error": None}
    try:
        if args.budget_seconds <= 0:
            result["error"] = "budget must be positive"
        else:
            result = measure(args.venv, args.tool, args.source, args.budget_seconds, args.out)
    except Exception as exc:  # the contract is one JSON line, never a trace
        result["error"] = f"driver error: {type(exc).__name__}: {exc}"[:300]
    emit(result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="create the venv with the peers")
    p_setup.add_argument("--venv", required=True)
    p_setup.add_argument("--pynguin", default=PYNGUIN_REQ, help=f"pip requirement (default {PYNGUIN_REQ})")
    p_setup.add_argument("--crosshair", default=CROSSHAIR_REQ,
                         help=f"pip requirement (default {CROSSHAIR_REQ})")
    p_run = sub.add_parser("run", help="run one tool on one file and measure its tests")
    p_run.add_argument("--venv", required=True)
    p_run.add_argument("--tool", required=True, choices=["pynguin", "crosshair"])
    p_run.add_argument("--source", required=True)
    p_run.add_argument("--budget-seconds", type=int, required=True)
    p_run.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "setup":
        try:
            cmd_setup(args)
        except Exception as exc:
            emit({"venv": args.venv, "error": f"driver error: {type(exc).__name__}: {exc}"[:300]})
    else:
        cmd_run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
