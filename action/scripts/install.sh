#!/usr/bin/env bash
# Finds the `backtrack` binary for the Action and sets the step output `path`:
#   1. the `binary` input, when set (self-hosted runners, tests);
#   2. the release for `version` (or the action's own release tag, or for a moving major tag
#      like v1 the version its source declares) and this runner's OS/arch: from the runner's
#      tool cache when a step of this job (or a self-hosted runner's earlier job) already
#      fetched it, else downloaded, its SHA-256 checked against the published .sha256 and,
#      where `gh` is installed, its build provenance attestation verified, before it is
#      unpacked and cached;
#   3. otherwise a build from the action's own source (cargo install --locked --path), said
#      in the log with the time it takes.
#
# Release assets are named backtrack-<version>-<target>.tar.gz (the `backtrack` binary at the
# top level), each with backtrack-<version>-<target>.tar.gz.sha256 ("<hex>  <file name>"),
# under <server>/<action repository>/releases/download/<version>/; .github/workflows/
# release.yml publishes them. BACKTRACK_RELEASE_URL replaces that base, for a mirror (and
# the tests' local release server): <url>/<version>/<asset>.
#
# Reads: INPUT_BINARY, INPUT_VERSION, ACTION_REF, ACTION_REPOSITORY, GITHUB_ACTION_PATH,
# GITHUB_SERVER_URL, BACKTRACK_RELEASE_URL, GH_TOKEN, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP,
# RUNNER_TOOL_CACHE.
set -euo pipefail

# shellcheck source=action/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

action_path="${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
temp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"

# A cold release build of backtrack on 2 cores, in minutes: what `cargo install --locked`
# costs a GitHub-hosted runner (bench/cross-aarch64 prints the figure; update it when it
# changes much).
BUILD_MINUTES_2_CORES=15

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
  # Static musl binaries: they run whatever the runner's glibc (see release.yml).
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
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

# Build provenance, where it can be checked: `gh` installed, the asset from the action's own
# GitHub release (a mirror's copy is checked by its checksum only). A failed check refuses.
verify_attestation() { # verify_attestation FILE REPO
  if [[ -n "${BACKTRACK_RELEASE_URL:-}" ]]; then
    echo "Attestation not checked: the asset comes from BACKTRACK_RELEASE_URL, not from $2's releases"
    return 0
  fi
  if ! command -v gh >/dev/null; then
    echo "Attestation not checked: gh is not installed (the SHA-256 was)"
    return 0
  fi
  if [[ -z "${GH_TOKEN:-}" ]]; then
    echo "Attestation not checked: no token for gh (the SHA-256 was)"
    return 0
  fi
  if ! gh attestation verify "$1" --repo "$2" >"$temp/backtrack-attestation.log" 2>&1; then
    cat "$temp/backtrack-attestation.log" >&2
    fail "attestation failed" "$(basename "$1") has no valid build provenance from $2 (gh attestation verify); refusing to run it"
  fi
  echo "Build provenance verified (gh attestation verify --repo $2)"
}

if [[ -n "$version" && -n "$target" ]]; then
  repo="${ACTION_REPOSITORY:-backtrack-dev/backtrack}"
  arch="${target%%-*}"
  # The runner's tool cache, laid out as actions/tool-cache does (<tool>/<version>/<arch>,
  # and a <arch>.complete marker written last, so a half-copied binary is never used).
  cached=""
  if [[ -n "${RUNNER_TOOL_CACHE:-}" ]]; then
    cached="$RUNNER_TOOL_CACHE/backtrack/${version#v}/$arch"
    if [[ -f "$cached.complete" && -x "$cached/backtrack" ]]; then
      found "$cached/backtrack" "release $version, $target, from the tool cache"
    fi
  fi
  asset="backtrack-$version-$target.tar.gz"
  if [[ -n "${BACKTRACK_RELEASE_URL:-}" ]]; then
    base="${BACKTRACK_RELEASE_URL%/}/$version"
  else
    base="${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download/$version"
  fi
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
    echo "SHA-256 verified: $actual"
    verify_attestation "$dir/$asset" "$repo"
    tar -xzf "$dir/$asset" -C "$dir" backtrack
    chmod +x "$dir/backtrack"
    how="release $version, $target, SHA-256 verified"
    if [[ -n "$cached" ]]; then
      rm -rf "$cached" "$cached.complete"
      mkdir -p "$cached"
      cp "$dir/backtrack" "$cached/backtrack"
      touch "$cached.complete"
      found "$cached/backtrack" "$how, cached in the tool cache"
    fi
    found "$dir/backtrack" "$how"
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
# How long, said before it starts: the measured cold build scaled from 2 cores to this
# runner's.
cores="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
minutes=$(((BUILD_MINUTES_2_CORES * 2 + cores - 1) / cores))
echo "::notice title=backtrack is built from source::No release binary for ${ACTION_REF:-this ref} (${target:-this OS/architecture}): building with cargo install --locked, about $minutes minutes on this $cores-core runner. Pin a release (uses: backtrack-dev/backtrack@v1) to download a verified binary in seconds."
started="$(date +%s)"
cargo install --locked --quiet --path "$action_path/action" --root "$root"
echo "Built in $(($(date +%s) - started)) s"
found "$root/bin/backtrack" "built from source"
