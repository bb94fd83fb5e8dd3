#!/usr/bin/env python3
"""Injected bugs, caught: applies each of a list of deliberate bugs to a copy
of the source and requires the loom models, the release stress tests or
Miri to fail on every one of them.

  scripts/inject-bugs.sh                  # every bug, then the baseline
  scripts/inject-bugs.sh free-immediately # some bugs (names from --list)
  scripts/inject-bugs.sh --list           # the bugs, their marked sites and checks
  scripts/inject-bugs.sh --check-markers  # only check that every bug's markers
                                          # and patches resolve (no builds; CI)
  scripts/inject-bugs.sh --all-checks ... # run every check of a bug, not just
                                          # up to the first that fails
  scripts/inject-bugs.sh --no-baseline ...

(scripts/inject-bugs.sh runs this file, scripts/inject_bugs.py, with the
same arguments; Python 3.11 or later, standard library only.)

The catalogue is scripts/inject-bugs.toml: for each bug its name, what it
breaks, its checks and its patches. A patch is located by a marker comment
`// inject: <name>` in the source (src/, loom-tests/src/) right above the
code it changes, and says precisely what changes there (old text, new text;
the old text must begin on the marked line and occur exactly once there and
across the bug's sites, and every marked site must be patched). So a
refactor moves a marker with its code instead of breaking a verbatim copy; a
missing, stray or unused marker, or an old text not found, stops the runner
(and --check-markers fails): it can never silently test the unmodified
source.

For each bug: the repository's working tree (tracked and untracked files
that git does not ignore; no target dirs) is copied to
$EVAC_INJECT_DIR/src (default /tmp/evac-inject/src), the bug's patches are
applied there, and the bug's checks run in order, cheapest first, until one
FAILS: that check "caught" the bug. A check is
  loom:MODEL@BOUND   one loom model (loom-tests/tests/models.rs) at that
                     LOOM_MAX_PREEMPTIONS (the builds and environment of
                     loom-tests/run.sh); loom:FILE/MODEL@BOUND for a model
                     of loom-tests/tests/FILE.rs (the cache's: cache_models)
  test:BINARY[:FILTER]  cargo test --release --test BINARY [-- FILTER]
  miri:BINARY[:FILTER]  cargo +nightly miri test --test BINARY, with the
                     flags of scripts/miri.sh
                     (BINARY `lib`: the library's unit tests, --lib)
A check whose build fails does not count as catching anything: every
patch must compile, and a bug is caught only by a test or model failing
(or hanging past the time limit, reported as such). Each kind of check has
its own target dir under $EVAC_INJECT_DIR (target-tests, target-loom,
target-miri), shared by all bugs; they are seeded from the repository's
own target-tests / target-loom / target-miri on first use, so only evacmap
itself is rebuilt per bug.

Baseline: every check that caught a bug is then run on the unmodified copy
and must pass there (a check that fails anyway proves nothing).

Output: a table "bug | caught by | seconds" (and what the check reported);
exits non-zero if any bug was not caught, a patch did not apply or build,
or a catching check fails on the unmodified source. Logs of every check:
$EVAC_INJECT_DIR/logs/. Uses -j2 and runs one check at a time.

Environment: EVAC_INJECT_DIR (scratch, default /tmp/evac-inject),
EVAC_INJECT_ROOT (tree to copy, default this repository),
EVAC_INJECT_TIMEOUT (seconds per check run, default 600),
EVAC_INJECT_NO_SEED=1 (do not seed the target dirs).
"""

import difflib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

if sys.version_info < (3, 11):
    sys.exit("inject-bugs: needs Python 3.11 or later (tomllib)")
import tomllib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CATALOGUE = os.path.join(HERE, "inject-bugs.toml")
ROOT = os.environ.get("EVAC_INJECT_ROOT") or os.path.dirname(HERE)
SCRATCH = os.environ.get("EVAC_INJECT_DIR") or "/tmp/evac-inject"
SRC = os.path.join(SCRATCH, "src")
LOGS = os.path.join(SCRATCH, "logs")
TIMEOUT = int(os.environ.get("EVAC_INJECT_TIMEOUT") or 600)
NO_SEED = bool(os.environ.get("EVAC_INJECT_NO_SEED"))
# Where markers are searched for, relative to a tree's root.
MARKED_DIRS = ("src", "loom-tests/src")
MARKER = re.compile(r"^\s*// inject: (\S+)\s*$")

# The environment of every check: -j2, and none of the caller's loom or
# target settings.
BASE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("LOOM_LOG", "RUSTFLAGS", "CARGO_TARGET_DIR", "MIRIFLAGS")}
BASE_ENV["CARGO_BUILD_JOBS"] = "2"


def die(msg, code=2):
    print(f"inject-bugs: {msg}", file=sys.stderr)
    sys.exit(code)


# ---------------------------------------------------------------------------
# The catalogue and the markers.

def load_catalogue():
    with open(CATALOGUE, "rb") as f:
        data = tomllib.load(f)
    bugs = data.get("bug", [])
    seen = set()
    for b in bugs:
        for key in ("name", "what", "checks", "patch"):
            if key not in b:
                die(f"{CATALOGUE}: a bug without `{key}`: {b.get('name', b)}")
        if b["name"] in seen:
            die(f"{CATALOGUE}: {b['name']} listed twice")
        seen.add(b["name"])
        for p in b["patch"]:
            if set(p) != {"old", "new"} or not p["old"]:
                die(f"{CATALOGUE}: {b['name']}: a patch needs a non-empty `old` and a `new`, nothing else")
    return bugs


class PatchError(Exception):
    pass


def scan_markers(root):
    """{bug name: [(path, marked line index)]} and the files' lines.

    The marked line of a marker is the first line after the stack of marker
    lines it belongs to."""
    sites, files = {}, {}
    for d in MARKED_DIRS:
        top = os.path.join(root, d)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for fn in sorted(filenames):
                if not fn.endswith(".rs"):
                    continue
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, root)
                with open(full, encoding="utf-8") as f:
                    lines = f.read().splitlines(keepends=True)
                found = False
                for i, line in enumerate(lines):
                    m = MARKER.match(line)
                    if not m:
                        continue
                    found = True
                    j = i + 1
                    while j < len(lines) and MARKER.match(lines[j]):
                        j += 1
                    if j == len(lines):
                        raise PatchError(f"{rel}:{i + 1}: marker `{m.group(1)}` marks nothing")
                    sites.setdefault(m.group(1), []).append((rel, j))
                if found:
                    files[rel] = lines
    return sites, files


def resolve(bug, sites, files):
    """[(path, start offset, end offset, new text, marked line index)] for the
    bug's patches, or PatchError saying what does not resolve."""
    name = bug["name"]
    marked = sites.get(name, [])
    if not marked:
        raise PatchError(f"{name}: no `// inject: {name}` marker in {' or '.join(d + '/' for d in MARKED_DIRS)}")
    if len(set(marked)) != len(marked):
        raise PatchError(f"{name}: the same line is marked twice for this bug")
    used = set()
    edits = []
    for p in bug["patch"]:
        old = p["old"]
        span = old.count("\n") + 1
        hits = []
        for path, j in marked:
            lines = files[path]
            window = "".join(lines[j:j + span])
            first = len(lines[j])
            n = window.count(old)
            at = window.find(old)
            if n == 1 and at < first:
                start = sum(len(l) for l in lines[:j]) + at
                hits.append((path, start, start + len(old), p["new"], j))
            elif n > 1 and at < first:
                raise PatchError(f"{name}: {path}:{j + 1}: the old text occurs {n} times after the marker:\n{old}")
        if len(hits) != 1:
            where = ", ".join(f"{path}:{j + 1}" for path, j in marked)
            raise PatchError(
                f"{name}: the old text begins on {len(hits)} of the marked lines ({where}), "
                f"need exactly 1:\n{old}")
        used.add((hits[0][0], hits[0][4]))
        edits.append(hits[0])
    unused = [f"{path}:{j + 1}" for path, j in marked if (path, j) not in used]
    if unused:
        raise PatchError(f"{name}: marked but not patched: {', '.join(unused)} (a stray marker?)")
    by_file = {}
    for e in edits:
        by_file.setdefault(e[0], []).append(e)
    for path, es in by_file.items():
        es.sort(key=lambda e: e[1])
        for a, b in zip(es, es[1:]):
            if b[1] < a[2]:
                raise PatchError(f"{name}: two patches overlap in {path}")
    return edits


def patched_texts(bug, sites, files):
    """{path: (text before, text after)} for the bug's resolved patches."""
    edits = resolve(bug, sites, files)
    out = {}
    for path in sorted({e[0] for e in edits}):
        before = "".join(files[path])
        after = before
        for _, start, end, new, _ in sorted((e for e in edits if e[0] == path),
                                            key=lambda e: -e[1]):
            after = after[:start] + new + after[end:]
        if after == before:
            raise PatchError(f"{bug['name']}: the patch leaves {path} unchanged")
        out[path] = (before, after)
    return out


def apply(bug, root):
    """Patches root in place; returns the unified diff."""
    diff = []
    for path, (before, after) in patched_texts(bug, *scan_markers(root)).items():
        with open(os.path.join(root, path), "w", encoding="utf-8") as f:
            f.write(after)
        diff.extend(difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                         f"a/{path}", f"b/{path}"))
    return "".join(diff)


def check_markers(bugs, selected):
    """Every selected bug resolves in ROOT, and no marker names a bug the
    catalogue does not have."""
    try:
        sites, files = scan_markers(ROOT)
    except PatchError as e:
        die(str(e), 1)
    failed = 0
    known = {b["name"] for b in bugs}
    for name, where in sorted(sites.items()):
        if name not in known:
            print(f"inject-bugs: marker `// inject: {name}` at "
                  f"{', '.join(f'{p}:{j + 1}' for p, j in where)} names no bug of {CATALOGUE}",
                  file=sys.stderr)
            failed = 1
    n_sites = 0
    for b in bugs:
        if b["name"] not in selected:
            continue
        try:
            patched_texts(b, sites, files)
            n_sites += len(b["patch"])
        except PatchError as e:
            print(f"inject-bugs: {e}", file=sys.stderr)
            failed = 1
    if failed:
        die("some markers do not resolve (see above)", 1)
    print(f"inject-bugs: the markers of {len(selected)} bugs resolve ({n_sites} patches)")


def list_bugs(bugs):
    try:
        sites, files = scan_markers(ROOT)
    except PatchError as e:
        sites, files = {}, {}
        print(f"(markers: {e})")
    for b in bugs:
        try:
            edits = resolve(b, sites, files)
            where = ", ".join(f"{path}:{j + 1}" for path, _, _, _, j in edits)
        except PatchError as e:
            where = f"DOES NOT RESOLVE: {str(e).splitlines()[0]}"
        print(f"{b['name']}\n    {b['what']}\n    patch: {where}\n    checks: {' '.join(b['checks'])}")


# ---------------------------------------------------------------------------
# The copy of the tree and the target dirs.

def seed(kind):
    """Seeds a scratch target dir from the repository's own, once
    (dependencies then need no rebuild). Loom mutants elsewhere are left out."""
    dest = os.path.join(SCRATCH, kind)
    if os.path.isdir(dest):
        return
    os.makedirs(dest)
    if NO_SEED:
        return
    src = os.path.join(ROOT, kind)
    if os.path.isdir(src):
        print(f"   (seeding {dest} from {src})", flush=True)
        try:
            shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                            ignore=lambda d, names: ["mutants"] if d == src else [])
        except (shutil.Error, OSError):
            pass


def copy_tree():
    """A fresh copy of the working tree (files get new mtimes, so cargo
    rebuilds whatever a patch touched; nothing stale from a previous bug
    survives). The fuzz corpus is left out (large, and rewritten while
    fuzzing runs); a file that vanishes while being copied is skipped."""
    shutil.rmtree(SRC, ignore_errors=True)
    os.makedirs(SRC)
    names = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=False).stdout.split(b"\0")
    for raw in names:
        name = os.fsdecode(raw)
        if not name or name.startswith(("fuzz/corpus/", "fuzz/artifacts/")):
            continue
        src, dest = os.path.join(ROOT, name), os.path.join(SRC, name)
        try:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dest)
            elif os.path.isfile(src):
                shutil.copyfile(src, dest)
                shutil.copymode(src, dest)
        except OSError:
            pass
    if not (os.path.isfile(os.path.join(SRC, "Cargo.toml")) and os.path.isdir(os.path.join(SRC, "src/raw"))):
        die(f"copying {ROOT} failed")


# ---------------------------------------------------------------------------
# The checks.

def why(log):
    """One line that says why a check failed: a timeout, Miri's UB report,
    the first panic (location and message: for loom, the first panic is the
    finding), or the signal that killed the test binary."""
    with open(log, errors="replace") as f:
        lines = f.read().splitlines()

    def first(pattern):
        return next((i for i, l in enumerate(lines) if re.search(pattern, l)), None)

    i = first(r"inject-bugs: timed out")
    if i is not None:
        return lines[i].replace("inject-bugs: ", "")[:200]
    i = first(r"Undefined Behavior|data race detected")
    if i is not None:
        return ("miri: " + re.sub(r"^error: ", "", lines[i].strip()))[:200]
    i = first(r"panicked at ")
    if i is not None:
        m = re.search(r"panicked at (.*?):(\d+):\d+:", lines[i])
        where = "?"
        if m:
            where = "loom" if "/loom-" in m.group(1) else f"{os.path.basename(m.group(1))}:{m.group(2)}"
        msg = []
        for l in lines[i + 1:i + 4]:
            if not l.strip() or l.startswith(("stack backtrace", "note:", "thread ")):
                break
            msg.append(l.strip())
        return f"{where}: {' '.join(msg)}"[:200]
    i = first(r"process didn't exit successfully")
    if i is not None:
        m = re.search(r"\((signal: [^)]*)\)", lines[i])
        return "test binary crashed" + (f" ({m.group(1)})" if m else "")
    i = first(r"^error|FAILED|failed")
    return lines[i].strip()[:200] if i is not None else "(no failure message found)"


def run_to_log(cmd, log, env, timeout=False):
    if timeout:
        cmd = ["timeout", "-k", "10", str(TIMEOUT)] + cmd
    with open(log, "a") as f:
        return subprocess.run(cmd, cwd=SRC, env=env, stdout=f, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode


def note(log, line):
    with open(log, "a") as f:
        f.write(line + "\n")


PASSED, CAUGHT, UNBUILT, TIMED_OUT = 0, 1, 2, 3


def run_check(spec, log):
    """PASSED = the check passed (missed the bug), CAUGHT = it failed,
    UNBUILT = it did not build, TIMED_OUT = it ran past the time limit."""
    kind, _, rest = spec.partition(":")
    open(log, "w").close()
    env = dict(BASE_ENV)
    if kind in ("test", "miri"):
        name, _, filt = rest.partition(":")
        if kind == "test":
            seed("target-tests")
            cargo = ["cargo", "test", "--release"]
            env["CARGO_TARGET_DIR"] = os.path.join(SCRATCH, "target-tests")
        else:
            seed("target-miri")
            cargo = ["cargo", "+nightly", "miri", "test"]
            env["CARGO_TARGET_DIR"] = os.path.join(SCRATCH, "target-miri")
            env["MIRIFLAGS"] = "-Zmiri-tree-borrows -Zmiri-ignore-leaks"
            # Miri's builds of evacmap can record an empty dep-info (seen
            # with the library's unit tests), which cargo then takes as fresh
            # forever: forget evacmap's fingerprints so the patch is built.
            for fp in glob.glob(os.path.join(SCRATCH, "target-miri", "miri", "*", "debug",
                                             ".fingerprint", "evacmap-*")):
                shutil.rmtree(fp, ignore_errors=True)
        if name == "lib":
            cargo += ["-p", "evacmap", "--lib"]
        elif not os.path.isfile(os.path.join(SRC, "tests", f"{name}.rs")):
            note(log, f"no tests/{name}.rs in the tree")
            return UNBUILT
        else:
            cargo += ["-p", "evacmap", "--test", name]
        if run_to_log(cargo + ["--no-run"], log, env) != 0:
            return UNBUILT
        rc = run_to_log(cargo + ["--"] + ([filt] if filt else []), log, env, timeout=True)
    elif kind == "loom":
        seed("target-loom")
        name, at, bound = rest.rpartition("@")
        if not at:
            name, bound = rest, "2"
        # FILE/MODEL names a model of loom-tests/tests/FILE.rs (default: models).
        file = "models"
        if "/" in name:
            file, name = name.split("/", 1)
        env["RUSTFLAGS"] = "--cfg loom --cfg crossbeam_loom"
        env["CARGO_TARGET_DIR"] = os.path.join(SCRATCH, "target-loom")
        cargo = ["cargo", "test", "--release", "-p", "evacmap-loom-tests", "--test", file]
        if run_to_log(cargo + ["--no-run"], log, env) != 0:
            return UNBUILT
        env["LOOM_MAX_PREEMPTIONS"] = bound
        rc = run_to_log(cargo[:3] + ["-q"] + cargo[3:] +
                        ["--", "--exact", name, "--test-threads=1", "--nocapture"],
                        log, env, timeout=True)
        # A model that ran nothing (a renamed model) must not count as a pass.
        if rc == 0:
            with open(log, errors="replace") as f:
                ran = f"loom model {name} " in f.read()
            if not ran:
                note(log, f"inject-bugs: model {name} did not run")
                return UNBUILT
    else:
        die(f"unknown check {spec}")
    if rc == 0:
        return PASSED
    if rc in (124, 137):
        note(log, f"inject-bugs: timed out after {TIMEOUT}s")
        return TIMED_OUT
    return CAUGHT


def safe(s):
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", s)


def indent(text, prefix="      "):
    return "".join(prefix + l + "\n" for l in text.splitlines())


def first_errors(log, n=3):
    with open(log, errors="replace") as f:
        return [l.rstrip("\n") for l in f if l.startswith("error")][:n]


# ---------------------------------------------------------------------------

def main(argv):
    all_checks, baseline, markers_only, selected = False, True, False, []
    bugs = load_catalogue()
    for a in argv:
        if a == "--list":
            list_bugs(bugs)
            return 0
        elif a == "--all-checks":
            all_checks = True
        elif a == "--no-baseline":
            baseline = False
        elif a == "--check-markers":
            markers_only = True
        elif a in ("-h", "--help"):
            print(__doc__.rstrip())
            return 0
        elif a.startswith("-"):
            die(f"unknown option {a}")
        else:
            selected.append(a)
    names = [b["name"] for b in bugs]
    for s in selected:
        if s not in names:
            die(f"no bug named {s!r} (see --list)")
    if not selected:
        selected = names
    if markers_only:
        check_markers(bugs, set(selected))
        return 0
    by_name = {b["name"]: b for b in bugs}
    os.makedirs(LOGS, exist_ok=True)

    caught_by, seconds, detail, unbuilt = {}, {}, {}, {}
    catchers = []
    failed = False
    t_all = time.monotonic()

    for name in selected:
        bug = by_name[name]
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        copy_tree()
        try:
            diff = apply(bug, SRC)
        except PatchError as e:
            print(f"inject-bugs: {e}", file=sys.stderr)
            caught_by[name] = "PATCH DID NOT APPLY"
            seconds[name] = int(time.monotonic() - t0)
            detail[name] = ""
            failed = True
            continue
        with open(os.path.join(LOGS, f"{name}.patch"), "w") as f:
            f.write(diff)
        shown = [l for l in diff.splitlines() if re.match(r"^[-+][^-+]", l)][:12]
        print("".join(f"   | {l}\n" for l in shown), end="", flush=True)
        result = "NOT CAUGHT"
        detail[name] = ""
        unbuilt[name] = []
        for check in bug["checks"]:
            log = os.path.join(LOGS, f"{name}.{safe(check)}.log")
            c0 = time.monotonic()
            rc = run_check(check, log)
            took = int(time.monotonic() - c0)
            if rc == PASSED:
                print(f"   {check}: passed, missed it ({took} s)", flush=True)
            elif rc in (CAUGHT, TIMED_OUT):
                tag = " (timeout)" if rc == TIMED_OUT else ""
                print(f"   {check}: FAILED, caught it{tag} ({took} s)")
                print(indent(why(log)), end="", flush=True)
                if result == "NOT CAUGHT":
                    result = check + tag
                    detail[name] = why(log)
                catchers.append(check)
                if not all_checks:
                    break
            else:
                # Not a catch. The later checks still run (they may build),
                # but the run fails: every patch must compile under every check.
                print(f"   {check}: DID NOT BUILD ({took} s), see {log}")
                print(indent("\n".join(first_errors(log))), end="", flush=True)
                unbuilt[name].append(check)
        caught_by[name] = result
        seconds[name] = int(time.monotonic() - t0)
        if result == "NOT CAUGHT" or unbuilt[name]:
            failed = True

    # Baseline: each check that caught something must pass without the bug,
    # and a check that did not build with a bug is tried without it (to tell
    # a patch that does not compile from a tree that does not).
    base = {}
    to_run = sorted(set(catchers) | {c for n in selected for c in unbuilt.get(n, [])})
    if baseline and to_run:
        print("== baseline (unmodified source)", flush=True)
        copy_tree()
        for check in to_run:
            log = os.path.join(LOGS, f"baseline.{safe(check)}.log")
            c0 = time.monotonic()
            rc = run_check(check, log)
            base[check] = {PASSED: "passed", UNBUILT: "DID NOT BUILD"}.get(rc, "FAILED")
            if base[check] != "passed":
                failed = True
            print(f"   {check}: {base[check]} ({int(time.monotonic() - c0)} s)")
            if base[check] != "passed":
                print(indent(why(log)), end="")
            sys.stdout.flush()

    print()
    print(f"{'bug':<22} | {'caught by':<34} | {'seconds':>7} | what failed")
    print(f"{'-' * 22}-+-{'-' * 34}-+-{'-' * 7}-+-{'-' * 11}")
    for name in selected:
        print(f"{name:<22} | {caught_by[name]:<34} | {seconds[name]:>7} | "
              f"{detail.get(name, '').strip()[:110]}")
    for name in selected:
        if unbuilt.get(name):
            print(f"!! {name}: did not build for {' '.join(unbuilt[name])} (see {LOGS})")
    for check, state in base.items():
        if state == "FAILED":
            print(f"!! {check} fails on the UNMODIFIED source too: it proves nothing about the bugs it caught")
        elif state == "DID NOT BUILD":
            print(f"!! {check} does not build from the UNMODIFIED source either: fix the tree (see {LOGS}/baseline.*)")
    print(f"total: {int(time.monotonic() - t_all)} s; logs in {LOGS}")
    if failed:
        print("inject-bugs: FAILED (a bug not caught, a patch or build failure, or a failing baseline)",
              file=sys.stderr)
        return 1
    print("inject-bugs: every injected bug was caught")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `--list | head` is fine
    sys.exit(main(sys.argv[1:]))
