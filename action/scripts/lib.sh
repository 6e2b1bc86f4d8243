# shellcheck shell=bash
# Helpers shared by the Action's scripts (sourced, not run).

# Escapes a value for a workflow command's message (`::error::MESSAGE`).
gh_escape_data() {
  local s="$1"
  s="${s//'%'/'%25'}"
  s="${s//$'\r'/'%0D'}"
  s="${s//$'\n'/'%0A'}"
  printf '%s' "$s"
}

# Escapes a value for a workflow command's property (`title=VALUE`).
gh_escape_property() {
  local s
  s="$(gh_escape_data "$1")"
  s="${s//':'/'%3A'}"
  s="${s//','/'%2C'}"
  printf '%s' "$s"
}

# Appends Markdown to the job summary (a no-op outside Actions).
summary() {
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"
  fi
}

# Sets a step output; values are single-line here.
set_output() { # set_output NAME VALUE
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

# An annotation naming the bad input, mirrored in the job summary.
input_error() { # input_error INPUT MESSAGE
  echo "::error title=$(gh_escape_property "backtrack: invalid input '$1'")::$(gh_escape_data "$2")"
  summary "### ❌ backtrack: invalid input \`$1\`" "" "$2" ""
}

# A failure that is not about one input.
fail() { # fail TITLE MESSAGE
  echo "::error title=$(gh_escape_property "backtrack: $1")::$(gh_escape_data "$2")"
  summary "### ❌ backtrack: $1" "" "$2" ""
  exit 1
}
