#!/usr/bin/env bash
# Prints the release tag a release workflow run builds, and writes it to $GITHUB_OUTPUT as
# `version` (and `prerelease`: true for v1.2.3-rc.1):
#   - a tag push: the tag, which must be `v` + the workspace version in Cargo.toml (the
#     Action's install.sh maps a moving major tag to that version, so they must agree);
#   - workflow_dispatch (a dry run): the `version` input, else `v` + the workspace version.
# Reads GITHUB_EVENT_NAME, GITHUB_REF_TYPE, GITHUB_REF_NAME, INPUT_VERSION.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
own="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\([^"]*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[[ -n "$own" ]] || { echo "::error::no version in [workspace.package] of Cargo.toml"; exit 1; }

# The published crates depend on each other at exactly the workspace version.
pinned="$(grep -cE "^backtrack(-sandbox)? = \{.*version = \"=$own\"" "$root/Cargo.toml" || true)"
if [[ "$pinned" != 2 ]]; then
  echo "::error title=release: crate versions disagree::[workspace.dependencies] must pin backtrack and backtrack-sandbox at \"=$own\" (the workspace version); update both with the version"
  exit 1
fi

if [[ "${GITHUB_EVENT_NAME:-}" == push && "${GITHUB_REF_TYPE:-}" == tag ]]; then
  version="${GITHUB_REF_NAME:?}"
  if [[ "$version" != "v$own" ]]; then
    echo "::error title=release: tag and Cargo.toml disagree::tag $version, but Cargo.toml says $own; bump [workspace.package] version to ${version#v} (or tag v$own)"
    exit 1
  fi
else
  version="${INPUT_VERSION:-}"
  version="${version:-v$own}"
fi
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
  { echo "::error::\"$version\" is not a release tag like v1.2.3"; exit 1; }
prerelease=false
if [[ "$version" == *-* ]]; then prerelease=true; fi
echo "$version"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
  printf 'version=%s\nprerelease=%s\n' "$version" "$prerelease" >>"$GITHUB_OUTPUT"
fi
