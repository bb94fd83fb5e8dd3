#!/usr/bin/env bash
# Injected bugs, caught: applies each of a list of deliberate bugs to a copy
# of the source and requires the loom models, the release stress tests or
# Miri to fail on every one of them.
#
#   scripts/inject-bugs.sh                  # every bug, then the baseline
#   scripts/inject-bugs.sh free-immediately # some bugs (names from --list)
#   scripts/inject-bugs.sh --list           # the bugs, their patches' sites and checks
#   scripts/inject-bugs.sh --all-checks ... # run every check of a bug, not just
#                                           # up to the first that fails
#   scripts/inject-bugs.sh --no-baseline ...
#
# For each bug: the repository's working tree (tracked and untracked files
# that git does not ignore; no target dirs) is copied to
# $EVAC_INJECT_DIR/src (default /tmp/evac-inject/src), the bug's textual
# patch is applied there (every anchor must occur exactly once, or the script
# stops: it can never silently test the unmodified source), and the bug's
# checks run in order, cheapest first, until one FAILS: that check "caught"
# the bug. A check is
#   loom:MODEL@BOUND   one loom model (loom-tests/tests/models.rs) at that
#                      LOOM_MAX_PREEMPTIONS (the builds and environment of
#                      loom-tests/run.sh); loom:FILE/MODEL@BOUND for a model
#                      of loom-tests/tests/FILE.rs (the cache's: cache_models)
#   test:BINARY[:FILTER]  cargo test --release --test BINARY [-- FILTER]
#   miri:BINARY[:FILTER]  cargo +nightly miri test --test BINARY, with the
#                      flags of scripts/miri.sh
# A check whose build fails does not count as catching anything: every
# patch must compile, and a bug is caught only by a test or model failing
# (or hanging past the time limit, reported as such). Each kind of check has
# its own target dir under $EVAC_INJECT_DIR (target-tests, target-loom,
# target-miri), shared by all bugs; they are seeded from the repository's
# own target-tests / target-loom / target-miri on first use, so only evacmap
# itself is rebuilt per bug.
#
# Baseline: every check that caught a bug is then run on the unmodified copy
# and must pass there (a check that fails anyway proves nothing).
#
# Output: a table "bug | caught by | seconds" (and what the check reported);
# exits non-zero if any bug was not caught, a patch did not apply or build,
# or a catching check fails on the unmodified source. Logs of every check:
# $EVAC_INJECT_DIR/logs/. Uses -j2 and runs one check at a time.
#
# Environment: EVAC_INJECT_DIR (scratch, default /tmp/evac-inject),
# EVAC_INJECT_ROOT (tree to copy, default this repository),
# EVAC_INJECT_TIMEOUT (seconds per check run, default 600),
# EVAC_INJECT_NO_SEED=1 (do not seed the target dirs).
set -uo pipefail

ROOT="${EVAC_INJECT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SCRATCH="${EVAC_INJECT_DIR:-/tmp/evac-inject}"
SRC="$SCRATCH/src"
LOGS="$SCRATCH/logs"
TIMEOUT="${EVAC_INJECT_TIMEOUT:-600}"
export CARGO_BUILD_JOBS=2
unset LOOM_LOG RUSTFLAGS CARGO_TARGET_DIR

# ---------------------------------------------------------------------------
# The bugs: patches (file, anchor, replacement; each anchor must occur exactly
# once in the file) and checks, in the order they are tried.
read -r -d '' BUGS_PY <<'PY'
import difflib, os, sys

BUGS = [
    dict(
        name="relaxed-root-load",
        what="Shard::root loads the table pointer with Relaxed instead of Acquire",
        patches=[("src/raw/shard/mod.rs",
                  "let root = self.root.load(Ordering::Acquire);",
                  "let root = self.root.load(Ordering::Relaxed);")],
        checks=["loom:get_vs_first_insert@2", "loom:get_vs_evacuation@2",
                "loom:iter_vs_migration@2", "test:linearizability"],
    ),
    dict(
        name="relaxed-entry-publish",
        what="Bucket::insert publishes the entry pointer with Relaxed instead of Release",
        patches=[("src/raw/bucket.rs",
                  "bucket.slots[index].store(entry, Ordering::Release);",
                  "bucket.slots[index].store(entry, Ordering::Relaxed);")],
        checks=["loom:get_vs_reinsert@7", "test:linearizability"],
    ),
    dict(
        name="relaxed-table-publish",
        what="Shard::complete swings the root to the successor table with Relaxed instead of Release",
        patches=[("src/raw/shard/migrate.rs",
                  "self.root.store(new, Ordering::Release);",
                  "self.root.store(new, Ordering::Relaxed);")],
        checks=["loom:get_vs_evacuation@2", "loom:iter_vs_migration@2",
                "loom:help_vs_reader@2", "test:linearizability"],
    ),
    dict(
        name="relaxed-root-install",
        what="Shard::install_root publishes a fresh table with Relaxed instead of Release",
        patches=[("src/raw/shard/mod.rs",
                  "self.root.store(root, Ordering::Release);",
                  "self.root.store(root, Ordering::Relaxed);")],
        checks=["loom:get_vs_first_insert@2", "loom:get_vs_first_insert@4",
                "test:linearizability"],
    ),
    dict(
        name="free-immediately",
        what="Shard::complete frees the old table at once instead of retiring it through the epoch",
        patches=[("src/raw/shard/migrate.rs",
                  """        unsafe {
            self.writer
                .retirer
                .retire_sliced(guard, Table::<K, V>::bytes(old_log2), move || {
                    Table::free_evacuated(old).map(|pages| Box::new(pages) as Box<dyn Sliced>)
                });
        }""",
                  """        unsafe {
            drop(Table::free_evacuated(old));
        }""")],
        checks=["loom:get_vs_evacuation@2", "loom:help_vs_reader@2",
                "test:linearizability", "test:iteration",
                "miri:drops"],
    ),
    dict(
        name="never-retire",
        what="Shard::complete never retires (or frees) the old table: it leaks",
        patches=[("src/raw/shard/migrate.rs",
                  """        unsafe {
            self.writer
                .retirer
                .retire_sliced(guard, Table::<K, V>::bytes(old_log2), move || {
                    Table::free_evacuated(old).map(|pages| Box::new(pages) as Box<dyn Sliced>)
                });
        }""",
                  """        let _ = (old_log2, old);""")],
        checks=["test:drops", "test:memory"],
    ),
    dict(
        name="moved-before-copied",
        what="migrate::evacuate marks the old bucket MOVED before copying its entries",
        patches=[("src/raw/shard/migrate.rs",
                  """    bucket.entries_locked(|entry| {""",
                  """    bucket.mark_moved();
    bucket.entries_locked(|entry| {"""),
                 ("src/raw/shard/migrate.rs",
                  """    // Only after every copy: see step 2 of the protocol.
    bucket.mark_moved();
""",
                  """    // (injected bug: marked MOVED before the copies)
""")],
        checks=["loom:get_vs_evacuation@2", "loom:help_vs_reader@2",
                "test:linearizability"],
    ),
    dict(
        name="reader-ignores-moved",
        what="Shard::find does not follow a MOVED mark: it scans the evacuated (stale) chain",
        patches=[("src/raw/shard/mod.rs",
                  "            if tags.is_moved() {",
                  "            if false && tags.is_moved() {")],
        checks=["test:differential", "loom:get_vs_pending_migration@2",
                "test:linearizability"],
    ),
    dict(
        name="shrink-wrong-index",
        what="migrate::evacuate maps old bucket i to new bucket i mod n (low bits) on a shrink, instead of i >> (old_log2 - new_log2)",
        patches=[("src/raw/shard/migrate.rs",
                  """        let pos = hash << shard_bits;
        counters.publish(new.bucket_for(pos), entry, hash);""",
                  """        let pos = hash << shard_bits;
        // On a shrink all of old bucket `index` goes to one new bucket.
        let target = if new.log2() < old.log2() {
            new.bucket(index & (new.buckets() - 1))
        } else {
            new.bucket_for(pos)
        };
        counters.publish(target, entry, hash);""")],
        checks=["test:differential", "test:api", "test:linearizability"],
    ),
    dict(
        name="free-old-overflow-immediately",
        what="Shard::retire_old_overflow frees an evacuated chain's overflow buckets at once instead of retiring them through the epoch",
        patches=[("src/raw/shard/migrate.rs",
                  """            self.writer
                .retirer
                .retire_batch(guard, batch, Bucket::<K, V>::BYTES, |bucket| {
                    Bucket::free_overflow(bucket)
                });""",
                  """            let bytes = batch.len() * Bucket::<K, V>::BYTES;
            for bucket in batch {
                Bucket::free_overflow(bucket);
            }
            self.writer.retirer.retire(guard, bytes, move || {});""")],
        checks=["loom:get_in_overflow_vs_evacuation@2"],
    ),
    dict(
        name="clear-frees-in-collection",
        what="sliced::enqueue does queued work (a cleared chain, a table's pages) at once, inside the collection, instead of a slice per write",
        patches=[("src/raw/sliced.rs",
                  """    if cfg!(loom) {
        while !item.step() {}""",
                  """    if true {
        while !item.step() {}""")],
        checks=["test:sliced_free"],
    ),
    dict(
        name="double-drop-replaced",
        what="Shard::apply retires the entry a replace unlinked twice (its value is dropped twice)",
        patches=[("src/raw/shard/mod.rs",
                  """                unsafe { state.retired.push(old, retirer, counters, guard) };
                old""",
                  """                unsafe { state.retired.push(old, retirer, counters, guard) };
                unsafe { state.retired.push(old, retirer, counters, guard) };
                old""")],
        checks=["test:drops", "loom:get_vs_pending_migration@2",
                "miri:drops:replaced_and_removed"],
    ),
    dict(
        name="scan-trusts-a-raced-chain",
        what="scan::collect_range keeps a chain's entries even when an insert raced the scan (no rescan)",
        patches=[("src/raw/scan.rs",
                  "if count_unchanged && shard_moved < tag::INSERTS_PERIOD / 4 {",
                  "if true || (count_unchanged && shard_moved < tag::INSERTS_PERIOD / 4) {")],
        checks=["loom:iter_vs_reinsert@2", "loom:iter_vs_reinsert@3",
                "test:panics:iteration_never_yields_a_reinserted_key_twice"],
    ),
    dict(
        name="nested-lock-allowed",
        what="ShardLock::lock lets a thread that holds a shard lock (inside a key's Eq) take another one",
        patches=[("src/raw/lock.rs",
                  "let held = Held::first().unwrap_or_else(|| nested_lock());",
                  "let held = Held::first().unwrap_or(Held);")],
        checks=["test:eq_reentry"],
    ),
    dict(
        name="drop-values-under-lock",
        what="Shard::drop_tables drops the retire batch's values while holding the shard lock",
        patches=[("src/raw/shard/clear.rs",
                  """        let retired = self.lock().retired.take();
        for entry in retired {""",
                  """        for entry in self.lock().retired.take() {""")],
        checks=["test:eq_reentry"],
    ),
    # ---- the cache ----
    dict(
        name="cache-bound-off-by-one",
        what="Policy::evict stops one unit of weight above the capacity",
        patches=[("src/cache/policy/engine.rs",
                  "while self.weight > self.max_weight {",
                  "while self.weight > self.max_weight + 1 {")],
        checks=["test:cache_api:the_bound_is_global_and_exact", "test:cache_model"],
    ),
    dict(
        name="cache-listener-twice",
        what="Cache::remove reports the removed entry's departure twice",
        patches=[("src/cache/core.rs",
                  "        removals.push(old, cause);\n",
                  "        removals.push(old, cause);\n        removals.push(old, cause);\n")],
        checks=["test:cache_model", "test:cache_stress:the_listener_hears_each_departure_exactly_once"],
    ),
    dict(
        name="cache-access-never-recorded",
        what="Meta::touch never stores: hits do not raise the entry's access counter",
        patches=[("src/cache/slot.rs",
                  "        if new != word {",
                  "        if false && new != word {")],
        checks=["test:cache_api:hits_protect_an_entry_from_a_scan"],
    ),
    dict(
        name="cache-waiter-leads",
        what="Loads::join never finds the load in flight: a waiter runs its own initialiser instead of waiting",
        patches=[("src/cache/loads.rs",
                  "if let Some(e) = shard.iter().find(|e| e.hash == hash && e.key == key) {",
                  "if let Some(e) = shard.iter().find(|e| e.hash == hash && e.key == key).filter(|_| false) {")],
        checks=["test:cache_stress:single_flight", "test:cache_async:one_initialiser"],
    ),
    dict(
        name="cache-load-ignores-writes",
        what="Leader::finish caches the loaded value even when a write superseded the load",
        patches=[("src/cache/loads.rs",
                  "Outcome::Done(value) if !entry.superseded =>",
                  "Outcome::Done(value) if !entry.superseded || true =>")],
        checks=["test:cache_api:a_write_during_a_load_wins"],
    ),
    dict(
        name="cache-returns-expired",
        what="Core::find returns entries past their deadline",
        patches=[("src/cache/core.rs",
                  "        if self.expired(entry, now) {\n            return None;",
                  "        if false && self.expired(entry, now) {\n            return None;")],
        checks=["test:cache_api:time_to_live_counts_from_the_last_write", "test:cache_model"],
    ),
    dict(
        name="cache-expiry-by-key",
        what="Session::expire removes the expired entry's key, not the entry: a racing re-insert of the key is lost",
        patches=[("src/cache/core.rs",
                  "if self.store.map.unpublish_exact(self.store.guard, entry) {",
                  "if self.store.map.unpublish(self.store.guard, entry.hash, &entry.key).is_some() {")],
        checks=["loom:cache_models/expiry_vs_reinsert@2"],
    ),
    dict(
        name="cache-retire-leaves-standing",
        what="Session::retire does not mark the entry Removed: an eviction racing its removal accounts it a second time",
        patches=[("src/cache/core.rs",
                  "        entry.value.meta.set_removed();\n        // Once this session ends",
                  "        // Once this session ends")],
        checks=["loom:cache_models/expiry_vs_reinsert@2", "test:cache_stress"],
    ),
    dict(
        name="cache-reads-do-no-expiry-work",
        what="Core::after_read never does expiry work: a cache that only reads keeps its expired entries",
        patches=[("src/cache/core.rs",
                  "if due && self.time.now() >= self.next_expiry.load(Relaxed) {",
                  "if false && due && self.time.now() >= self.next_expiry.load(Relaxed) {")],
        checks=["test:cache_api:reads_alone_free_expired_entries_within_the_stated_bound"],
    ),
    dict(
        name="cache-door-without-victim",
        what="Policy::leave_small uses the frequency door with main empty: it admits the oldest small entry, so a tiny cache evicts each new key at once",
        patches=[("src/cache/policy/engine.rs",
                  "let rule = if self.len == self.small_len {",
                  "let rule = if false && self.len == self.small_len {")],
        checks=["test:cache_api:a_tiny_cache_keeps_the_newest_of_unread_keys"],
    ),
    dict(
        name="cache-walk-misses-placed",
        what="Core::place does not tell the CLOCK hand's kept bucket about a new entry: it escapes the sweep for a lap, and the real cache drifts from the policy's replay",
        patches=[("src/cache/core.rs",
                  "        self.store.walk.placed(new.hash);",
                  "        // (bug) the walk is not told")],
        checks=["test:cache_replay"],
    ),
    # ---- memory that does not wait for writes ----
    dict(
        name="pin-skips-queued-frees",
        what="epoch::pin no longer steps the queued big frees: a map cleared and then only read keeps its entries until some write comes",
        patches=[("src/sync.rs",
                  "        crate::raw::sliced::step_before_pin();\n",
                  "")],
        checks=["test:read_only_reclaim"],
    ),
    # ---- batched lookups ----
    dict(
        name="batch-moved-as-absent",
        what="RawMap::get_group answers None for a key whose bucket it finds MOVED instead of following the migration: present keys go missing during resizes",
        patches=[("src/raw/get_many.rs",
                  "Some(_) if tags[i].is_moved() => self.get_by(hashes[i], is_it, guard),",
                  "Some(_) if tags[i].is_moved() => None,")],
        checks=["test:batch:a_batch_during_resizes_finds_every_stable_key"],
    ),
    dict(
        name="batch-compares-wrong-key",
        what="the batch recognises key i's entry by comparing it with key i-1: results land on the wrong keys",
        patches=[("src/get_many.rs",
                  "Some(e.key.borrow()) == group[i];",
                  "Some(e.key.borrow()) == group[i.saturating_sub(1)];")],
        checks=["test:batch:a_batch_returns_what_single_gets_return"],
    ),
    # ---- the async handles and the exclusive-access operations ----
    dict(
        name="owned-pin-foreign-collector",
        what="OwnedPinned registers with a collector of its own, which the map's retirements never consult: a lent value is freed under it",
        patches=[("src/owned.rs",
                  "let participant = epoch::default_collector().register();",
                  "let participant = Box::leak(Box::new(epoch::Collector::new())).register();")],
        checks=["test:async_handles:owned_pin", "loom:owned_pin_moved_vs_remove@1"],
    ),
    dict(
        name="exclusive-walk-enters-moved",
        what="the &mut walk (iter_mut, drain, into_iter) reads MOVED buckets too: entries mid-resize are yielded twice",
        patches=[("src/raw/exclusive.rs",
                  "            if bucket.tags().is_moved() {\n                continue; // its entries are in the successor, walked later",
                  "            if false && bucket.tags().is_moved() {\n                continue; // its entries are in the successor, walked later")],
        checks=["test:parity:iter_mut_and_values_mut_visit_every_entry_once_during_a_resize"],
    ),
]

def find(name):
    for b in BUGS:
        if b["name"] == name:
            return b
    sys.exit(f"inject-bugs: no bug named {name!r} (see --list)")

def apply(bug, root):
    changed = {}
    for path, old, new in bug["patches"]:
        full = os.path.join(root, path)
        text = changed.get(path)
        if text is None:
            with open(full) as f:
                text = f.read()
        n = text.count(old)
        if n != 1:
            sys.exit(f"inject-bugs: {bug['name']}: anchor found {n} times (need exactly 1) "
                     f"in {path}:\n{old}")
        changed[path] = text.replace(old, new)
    for path, text in changed.items():
        full = os.path.join(root, path)
        with open(full) as f:
            before = f.read()
        if before == text:
            sys.exit(f"inject-bugs: {bug['name']}: the patch leaves {path} unchanged")
        with open(full, "w") as f:
            f.write(text)
        sys.stdout.writelines(difflib.unified_diff(
            before.splitlines(True), text.splitlines(True), f"a/{path}", f"b/{path}"))

cmd = sys.argv[1]
if cmd == "names":
    print(" ".join(b["name"] for b in BUGS))
elif cmd == "list":
    for b in BUGS:
        sites = ", ".join(sorted({p for p, _, _ in b["patches"]}))
        print(f"{b['name']}\n    {b['what']}\n    patch: {sites}\n    checks: {' '.join(b['checks'])}")
elif cmd == "checks":
    print("\n".join(find(sys.argv[2])["checks"]))
elif cmd == "apply":
    apply(find(sys.argv[2]), sys.argv[3])
else:
    sys.exit(f"unknown command {cmd}")
PY

bugs_py() { python3 -c "$BUGS_PY" "$@"; }

# ---------------------------------------------------------------------------
usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

all_checks=0
baseline=1
selected=()
while (($#)); do
  case "$1" in
    --list) bugs_py list; exit 0 ;;
    --all-checks) all_checks=1 ;;
    --no-baseline) baseline=0 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "inject-bugs: unknown option $1" >&2; exit 2 ;;
    *) selected+=("$1") ;;
  esac
  shift
done
read -r -a all_bugs <<<"$(bugs_py names)"
if ((${#selected[@]} == 0)); then
  selected=("${all_bugs[@]}")
fi
for b in "${selected[@]}"; do
  bugs_py checks "$b" >/dev/null || exit 2
done

mkdir -p "$SCRATCH" "$LOGS"

# Seeds a scratch target dir from the repository's own, once (dependencies
# then need no rebuild). Loom mutants elsewhere are left out.
seed() {
  local kind=$1 dest="$SCRATCH/$1"
  [ -d "$dest" ] && return
  mkdir -p "$dest"
  [ -n "${EVAC_INJECT_NO_SEED:-}" ] && return
  if [ -d "$ROOT/$kind" ]; then
    echo "   (seeding $dest from $ROOT/$kind)"
    (cd "$ROOT/$kind" && tar --exclude=./mutants -cf - .) | tar -xf - -C "$dest" 2>/dev/null || true
  fi
}

# A fresh copy of the working tree (files get new mtimes, so cargo rebuilds
# whatever a patch touched; nothing stale from a previous bug survives). The
# fuzz corpus is left out (large, and rewritten while fuzzing runs); a file
# that vanishes while being copied is skipped.
copy_tree() {
  rm -rf "$SRC"
  mkdir -p "$SRC"
  (cd "$ROOT" && git ls-files -z -co --exclude-standard |
    python3 -c '
import os, sys
names = [n for n in sys.stdin.buffer.read().split(b"\0")
         if n and not n.startswith((b"fuzz/corpus/", b"fuzz/artifacts/")) and os.path.lexists(n)]
sys.stdout.buffer.write(b"".join(n + b"\0" for n in names))' |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xmf - -C "$SRC" &&
    [ -f "$SRC/Cargo.toml" ] && [ -d "$SRC/src/raw" ] || {
    echo "inject-bugs: copying $ROOT failed" >&2
    exit 2
  }
}

# One line that says why a check failed: a timeout, Miri's UB report, the
# first panic (location and message: for loom, the first panic is the
# finding), or the signal that killed the test binary.
read -r -d '' WHY_PY <<'PY'
import os, re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
def first(pattern):
    return next((i for i, l in enumerate(lines) if re.search(pattern, l)), None)
i = first(r"inject-bugs: timed out")
if i is not None:
    print(lines[i].replace("inject-bugs: ", "")); sys.exit()
i = first(r"Undefined Behavior|data race detected")
if i is not None:
    print("miri: " + re.sub(r"^error: ", "", lines[i].strip())); sys.exit()
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
    print(f"{where}: {' '.join(msg)}"); sys.exit()
i = first(r"process didn't exit successfully")
if i is not None:
    m = re.search(r"\((signal: [^)]*)\)", lines[i])
    print("test binary crashed" + (f" ({m.group(1)})" if m else "")); sys.exit()
i = first(r"^error|FAILED|failed")
print(lines[i].strip() if i is not None else "(no failure message found)")
PY
why() { python3 -c "$WHY_PY" "$1" | cut -c1-200; }

# run_check SPEC LOG: 0 = the check passed (missed the bug), 1 = it failed
# (caught it), 2 = it did not build, 3 = it ran past the time limit.
run_check() {
  local spec=$1 log=$2 kind rest name filter bound rc
  kind=${spec%%:*}
  rest=${spec#*:}
  : >"$log"
  case "$kind" in
    test | miri)
      name=${rest%%:*}
      filter=""
      [[ "$rest" == *:* ]] && filter=${rest#*:}
      if [ "$kind" = test ]; then
        seed target-tests
        local -a cargo=(cargo test --release)
        export CARGO_TARGET_DIR="$SCRATCH/target-tests"
      else
        seed target-miri
        local -a cargo=(cargo +nightly miri test)
        export CARGO_TARGET_DIR="$SCRATCH/target-miri"
        export MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks"
      fi
      if [ ! -f "$SRC/tests/$name.rs" ]; then
        echo "no tests/$name.rs in the tree" >>"$log"
        unset CARGO_TARGET_DIR MIRIFLAGS
        return 2
      fi
      (cd "$SRC" && "${cargo[@]}" -p evacmap --test "$name" --no-run) >>"$log" 2>&1 ||
        { unset CARGO_TARGET_DIR MIRIFLAGS; return 2; }
      (cd "$SRC" && timeout -k 10 "$TIMEOUT" "${cargo[@]}" -p evacmap --test "$name" -- $filter) >>"$log" 2>&1
      rc=$?
      unset CARGO_TARGET_DIR MIRIFLAGS
      ;;
    loom)
      seed target-loom
      name=${rest%@*}
      bound=${rest#*@}
      [ "$bound" = "$rest" ] && bound=2
      # FILE/MODEL names a model of loom-tests/tests/FILE.rs (default: models).
      file=models
      if [[ $name == */* ]]; then
        file=${name%%/*}
        name=${name#*/}
      fi
      export RUSTFLAGS="--cfg loom --cfg crossbeam_loom" CARGO_TARGET_DIR="$SCRATCH/target-loom"
      (cd "$SRC" && cargo test --release -p evacmap-loom-tests --test "$file" --no-run) >>"$log" 2>&1 ||
        { unset RUSTFLAGS CARGO_TARGET_DIR; return 2; }
      (cd "$SRC" && LOOM_MAX_PREEMPTIONS=$bound timeout -k 10 "$TIMEOUT" \
        cargo test --release -q -p evacmap-loom-tests --test "$file" -- \
        --exact "$name" --test-threads=1 --nocapture) >>"$log" 2>&1
      rc=$?
      unset RUSTFLAGS CARGO_TARGET_DIR
      # A model that ran nothing (a renamed model) must not count as a pass.
      if [ $rc -eq 0 ] && ! grep -q "loom model $name " "$log"; then
        echo "inject-bugs: model $name did not run" >>"$log"
        return 2
      fi
      ;;
    *)
      echo "inject-bugs: unknown check $spec" >&2
      exit 2
      ;;
  esac
  case $rc in
    0) return 0 ;;
    124 | 137) echo "inject-bugs: timed out after ${TIMEOUT}s" >>"$log"; return 3 ;;
    *) return 1 ;;
  esac
}

safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9_.@-' '_'; }

declare -A caught_by seconds detail missed unbuilt
failed=0
catchers=()
t_all=$SECONDS

for bug in "${selected[@]}"; do
  echo "== $bug"
  t0=$SECONDS
  copy_tree
  if ! bugs_py apply "$bug" "$SRC" >"$LOGS/$bug.patch"; then
    cat "$LOGS/$bug.patch" >&2
    caught_by[$bug]="PATCH DID NOT APPLY"
    seconds[$bug]=$((SECONDS - t0))
    failed=1
    continue
  fi
  sed 's/^/   | /' "$LOGS/$bug.patch" | grep -E '^   \| [-+][^-+]' | head -12
  result="NOT CAUGHT"
  detail[$bug]=""
  missed[$bug]=""
  mapfile -t checks < <(bugs_py checks "$bug")
  for check in "${checks[@]}"; do
    log="$LOGS/$bug.$(safe "$check").log"
    c0=$SECONDS
    run_check "$check" "$log"
    rc=$?
    case $rc in
      0)
        echo "   $check: passed, missed it ($((SECONDS - c0)) s)"
        missed[$bug]+="$check "
        ;;
      1 | 3)
        [ $rc -eq 3 ] && tag=" (timeout)" || tag=""
        echo "   $check: FAILED, caught it$tag ($((SECONDS - c0)) s)"
        why "$log" | sed 's/^/      /'
        if [ "$result" = "NOT CAUGHT" ]; then
          result="$check$tag"
          detail[$bug]=$(why "$log")
        fi
        catchers+=("$check")
        [ $all_checks -eq 1 ] || break
        ;;
      2)
        # Not a catch. The later checks still run (they may build), but the
        # script fails: every patch must compile under every check.
        echo "   $check: DID NOT BUILD ($((SECONDS - c0)) s), see $log"
        grep -m3 -E '^error' "$log" | sed 's/^/      /'
        unbuilt[$bug]+="$check "
        ;;
    esac
  done
  caught_by[$bug]=$result
  seconds[$bug]=$((SECONDS - t0))
  [ "$result" = "NOT CAUGHT" ] && failed=1
  [ -n "${unbuilt[$bug]:-}" ] && failed=1
done

# Baseline: each check that caught something must pass without the bug, and
# a check that did not build with a bug is tried without it (to tell a patch
# that does not compile from a tree that does not).
declare -A base
all_unbuilt=()
for bug in "${selected[@]}"; do
  for check in ${unbuilt[$bug]:-}; do all_unbuilt+=("$check"); done
done
if [ $baseline -eq 1 ] && ((${#catchers[@]} + ${#all_unbuilt[@]})); then
  echo "== baseline (unmodified source)"
  copy_tree
  mapfile -t uniq < <(printf '%s\n' "${catchers[@]}" "${all_unbuilt[@]}" | grep . | sort -u)
  for check in "${uniq[@]}"; do
    log="$LOGS/baseline.$(safe "$check").log"
    c0=$SECONDS
    run_check "$check" "$log"
    rc=$?
    case $rc in
      0) base[$check]=passed ;;
      2) base[$check]="DID NOT BUILD"; failed=1 ;;
      *) base[$check]="FAILED"; failed=1 ;;
    esac
    echo "   $check: ${base[$check]} ($((SECONDS - c0)) s)"
    [ "${base[$check]}" = passed ] || why "$log" | sed 's/^/      /'
  done
fi

echo
printf '%-22s | %-34s | %7s | %s\n' "bug" "caught by" "seconds" "what failed"
printf '%-22s-+-%-34s-+-%7s-+-%s\n' "----------------------" "----------------------------------" "-------" "-----------"
for bug in "${selected[@]}"; do
  printf '%-22s | %-34s | %7s | %s\n' "$bug" "${caught_by[$bug]}" "${seconds[$bug]}" \
    "$(echo "${detail[$bug]:-}" | sed 's/^ *//' | cut -c1-110)"
done
for bug in "${selected[@]}"; do
  [ -n "${unbuilt[$bug]:-}" ] && echo "!! $bug: did not build for ${unbuilt[$bug]}(see $LOGS)"
done
if [ $baseline -eq 1 ] && ((${#base[@]})); then
  for check in "${!base[@]}"; do
    case "${base[$check]}" in
      FAILED) echo "!! $check fails on the UNMODIFIED source too: it proves nothing about the bugs it caught" ;;
      "DID NOT BUILD") echo "!! $check does not build from the UNMODIFIED source either: fix the tree (see $LOGS/baseline.*)" ;;
    esac
  done
fi
echo "total: $((SECONDS - t_all)) s; logs in $LOGS"
if [ $failed -ne 0 ]; then
  echo "inject-bugs: FAILED (a bug not caught, a patch or build failure, or a failing baseline)" >&2
  exit 1
fi
echo "inject-bugs: every injected bug was caught"
