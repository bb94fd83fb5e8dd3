#!/usr/bin/env bash
# Lists every item of evacmap's public API whose documentation has no code
# example, as `file:line: path`, and exits 1 if there is any (issue 10: "a
# runnable example on every public function and type").
#
#   scripts/doc-examples.sh          # all features on (rayon, serde)
#   scripts/doc-examples.sh --all    # also list the items that have one
#
# What counts, walking from the crate root through public modules and
# re-exports (as rustdoc shows the API; #[doc(hidden)] items are left out):
#   - structs, enums, unions, type aliases, traits, free functions,
#     constants, statics and macros;
#   - public methods and associated constants of inherent impls;
#   - the methods and constants our own traits declare.
# Not counted: modules, fields, enum variants, and trait impls (Clone, Debug,
# Iterator::next, serde, rayon and our own traits' impls alike: the trait's
# declaration is where its example lives).
# An example is a fenced block whose code rustdoc compiles: ``` with no info
# string, or one naming rust, no_run, should_panic or an edition. A ```text,
# ```ignore or ```compile_fail block alone does not count.
#
# Needs a nightly toolchain (rustdoc's JSON output is unstable).
set -euo pipefail
source "$(dirname "$0")/test-args.sh" # need_nightly
cd "$(dirname "$0")/.."
need_nightly rustc # rustdoc comes with it

cargo +nightly rustdoc --quiet --lib --all-features -- \
    -Z unstable-options --output-format json
json="${CARGO_TARGET_DIR:-target}/doc/evacmap.json"

python3 - "$json" "${1:-}" <<'EOF'
import json, re, sys

doc = json.load(open(sys.argv[1]))
index, show_all = doc["index"], sys.argv[2] == "--all"
item = lambda i: index.get(str(i))

def has_example(docs):
    fences = re.findall(r"^[ \t]*```+[ \t]*([^\n`]*)$", docs or "", re.M)
    for info in fences[::2]:  # opening fences; the closing ones have no info
        tags = {t.strip() for t in info.split(",") if t.strip()}
        if all(t in ("rust", "no_run", "should_panic") or t.startswith("edition") for t in tags):
            return True
    return False

found = {}  # id -> (path, item); the shortest path wins for re-exported items

def record(it, path):
    if it["id"] not in found or len(path) < len(found[it["id"]][0]):
        found[it["id"]] = (path, it)

def impl_members(ty, path):
    for impl_id in ty.get("impls", []):
        impl = item(impl_id)["inner"]["impl"]
        if impl["trait"] is not None:  # a trait impl: see the header
            continue
        for m in map(item, impl["items"]):
            if m["visibility"] == "public" and {"function", "assoc_const"} & m["inner"].keys():
                record(m, f"{path}::{m['name']}")

def walk_module(module, path, seen):
    for child in map(item, module["items"]):  # a `use` names itself
        walk(child, f"{path}::{child['name']}" if child["name"] else path, seen)

def walk(it, path, seen):
    if it is None or it["crate_id"] != 0 or it["id"] in seen:
        return  # another crate's item, or a module already walked
    kind, inner = next(iter(it["inner"].items()))
    if kind == "use":
        target = item(inner["id"]) if inner["id"] is not None else None
        if target and inner["is_glob"] and "module" in target["inner"]:
            walk_module(target["inner"]["module"], path, seen | {target["id"]})
        elif target:
            walk(target, f"{path}::{inner['name']}", seen)
    elif kind == "module":
        walk_module(inner, path, seen | {it["id"]})
    elif kind in ("struct", "enum", "union"):
        record(it, path)
        impl_members(inner, path)
    elif kind == "trait":
        record(it, path)
        for m in map(item, inner["items"]):
            if {"function", "assoc_const"} & m["inner"].keys():
                record(m, f"{path}::{m['name']}")
    elif kind in ("function", "constant", "static", "type_alias", "macro"):
        record(it, path)

root = item(doc["root"])
walk(root, root["name"], frozenset())

missing = 0
for path, it in sorted(found.values(), key=lambda f: (f[1]["span"]["filename"], f[1]["span"]["begin"][0])):
    ok = has_example(it["docs"])
    missing += not ok
    if show_all or not ok:
        tag = ("  ok" if ok else "  MISSING") if show_all else ""
        print(f"{it['span']['filename']}:{it['span']['begin'][0]}: {path}{tag}")
print(f"{missing} of {len(found)} public items have no code example", file=sys.stderr)
sys.exit(1 if missing else 0)
EOF
