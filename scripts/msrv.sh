#!/usr/bin/env bash
# Builds the library on the oldest toolchain it claims to support (the
# `rust-version` of Cargo.toml), alone and with each optional feature, so the
# claim stays true.
#
#   bash scripts/msrv.sh
#
# Only the library: the dev-dependencies (criterion, tokio, moka, rusqlite...)
# need a newer toolchain, and cargo of the oldest toolchain cannot even read
# some of their manifests. So the build runs on a copy of the crate without
# dev-dependencies, benches or workspace, with a lockfile resolved for that
# Rust version (cargo's `fallback` resolver picks the newest releases of the
# dependencies that still support it, as a user on that toolchain would get).
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
if [[ -z "$msrv" ]]; then
    echo "msrv.sh: no rust-version in Cargo.toml" >&2
    exit 1
fi
if ! rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1; then
    echo "msrv.sh: cannot install Rust $msrv (rustup toolchain install $msrv)" >&2
    exit 1
fi

copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp -r src README.md "$copy"/
# The manifest without [workspace], [dev-dependencies] and [[bench]] tables.
awk '
    /^\[/ { skip = ($0 ~ /^\[(workspace|dev-dependencies|\[bench\])\]/) }
    !skip
' Cargo.toml >"$copy/Cargo.toml"

cd "$copy"
export CARGO_TARGET_DIR="${MSRV_TARGET_DIR:-$OLDPWD/target-msrv}"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo +stable generate-lockfile --quiet
for features in "" rayon serde "rayon serde"; do
    echo "== Rust $msrv: cargo build --lib --features '$features'"
    cargo "+$msrv" build --quiet --locked --lib --features "$features"
done
echo "msrv.sh: the library builds on Rust $msrv"
