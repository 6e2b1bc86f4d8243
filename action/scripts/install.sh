#!/usr/bin/env bash
# Finds the `backtrack` binary for the Action and sets the step output `path`:
#   1. the `binary` input, when set (self-hosted runners, tests);
#   2. the release asset for `version` (or the action's own release tag) and this runner's
#      OS/arch, verified against its published SHA-256 before it is unpacked;
#   3. otherwise a build from the action's own source: cargo install --locked --path.
#
# Release assets are named backtrack-<version>-<target>.tar.gz (the `backtrack` binary at the
# top level), each with backtrack-<version>-<target>.tar.gz.sha256 ("<hex>  <file name>"),
# under <server>/<action repository>/releases/download/<version>/.
#
# Reads: INPUT_BINARY, INPUT_VERSION, ACTION_REF, ACTION_REPOSITORY, GITHUB_ACTION_PATH,
# GITHUB_SERVER_URL, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP.
set -euo pipefail

# shellcheck source=action/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action_path="${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
temp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"

found() { # found PATH HOW
  echo "Using $("$1" --version) ($2): $1"
  set_output path "$1"
  exit 0
}

if [[ -n "${INPUT_BINARY:-}" ]]; then
  found "$INPUT_BINARY" "the binary input"
fi

# Which release, if any: an explicit `version` must exist; one derived from the action's ref
# falls back to a source build when it does not.
semver='^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$'
version=""
explicit=false
if [[ -n "${INPUT_VERSION:-}" ]]; then
  [[ "$INPUT_VERSION" =~ $semver ]] ||
    { input_error version "version \"$INPUT_VERSION\" is not a release version like v1.2.3"; exit 1; }
  version="v${INPUT_VERSION#v}"
  explicit=true
elif [[ "${ACTION_REF:-}" =~ $semver ]]; then
  version="v${ACTION_REF#v}"
elif [[ "${ACTION_REF:-}" =~ ^v([0-9]+)(\.[0-9]+)?$ ]]; then
  # A moving major tag (v1): the release is the one whose source the tag points at.
  major="${BASH_REMATCH[1]}"
  own="$(sed -n 's/^version = "\([0-9][^"]*\)"$/\1/p' "$action_path/Cargo.toml" | head -n 1)"
  if [[ "$own" == "$major".* ]]; then
    version="v$own"
  fi
fi

target=""
case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-gnu ;;
  macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
  macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
esac

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

if [[ -n "$version" && -n "$target" ]]; then
  repo="${ACTION_REPOSITORY:-backtrack-dev/backtrack}"
  asset="backtrack-$version-$target.tar.gz"
  base="${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download/$version"
  dir="$temp/backtrack-$version-$target"
  mkdir -p "$dir"
  echo "Downloading $base/$asset"
  if curl --fail --silent --show-error --location --retry 3 -o "$dir/$asset" "$base/$asset" &&
    curl --fail --silent --show-error --location --retry 3 -o "$dir/$asset.sha256" "$base/$asset.sha256"; then
    expected="$(cut -d' ' -f1 <"$dir/$asset.sha256" | tr -d '[:space:]')"
    actual="$(sha256_of "$dir/$asset")"
    if [[ ! "$expected" =~ ^[0-9a-f]{64}$ || "$expected" != "$actual" ]]; then
      rm -f "$dir/$asset"
      fail "checksum mismatch" "$asset has SHA-256 $actual but $asset.sha256 says \"$expected\"; refusing to run it"
    fi
    tar -xzf "$dir/$asset" -C "$dir" backtrack
    chmod +x "$dir/backtrack"
    found "$dir/backtrack" "release $version, $target, SHA-256 verified"
  fi
  if [[ "$explicit" == true ]]; then
    fail "no release binary" "version $version has no asset $asset at $base; unset version to build from source"
  fi
  echo "::notice title=backtrack::No release asset for $version ($target); building from source instead."
elif [[ "$explicit" == true ]]; then
  fail "no release binary" "no release binaries are published for this runner (${RUNNER_OS:-?}/${RUNNER_ARCH:-?}); unset version to build from source"
fi

# Fallback: build from the action's own checkout (a branch ref, a fork, an unreleased SHA).
command -v cargo >/dev/null ||
  fail "cannot build backtrack" "no release asset matches this action ref (${ACTION_REF:-none}) and cargo is not installed; pin a release tag, set version, or set binary"
root="$temp/backtrack-cargo"
echo "Building backtrack from $action_path (cargo install --locked; this takes a few minutes)"
cargo install --locked --quiet --path "$action_path/action" --root "$root"
found "$root/bin/backtrack" "built from source"
