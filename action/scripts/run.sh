#!/usr/bin/env bash
# Runs one backtrack command for the Action. The CLI itself sets the step outputs and writes
# the job summary (`--github-output`); this script only turns inputs into flags, and says
# why in an annotation when a command fails.
#
# Reads: BACKTRACK (the binary), INPUT_COMMAND, INPUT_SCOPE, INPUT_NAME, INPUT_FROM, INPUT_TO,
# INPUT_EXECUTE, INPUT_COMMENT, INPUT_REPORT_ARTIFACT, PR_NUMBER, PR_MERGED, BACKTRACK_STORE, BACKTRACK_CATALOG,
# GITHUB_TOKEN, GITHUB_API_URL, BACKTRACK_COMMENT_AUTHOR, GITHUB_REPOSITORY, GITHUB_EVENT_NAME,
# and for jira: scopes JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN, BACKTRACK_JIRA_FLAVOR.
set -euo pipefail

# shellcheck source=action/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bt="${BACKTRACK:?the install step did not find a backtrack binary}"
command="${INPUT_COMMAND:?}"
scope="${INPUT_SCOPE:?}"
# An empty input means "the CLI's default", not an empty value.
for var in BACKTRACK_STORE BACKTRACK_CATALOG GITHUB_TOKEN GITHUB_API_URL BACKTRACK_COMMENT_AUTHOR \
  JIRA_BASE_URL JIRA_EMAIL JIRA_API_TOKEN BACKTRACK_JIRA_FLAVOR; do
  if [[ -z "${!var:-}" ]]; then unset "$var"; fi
done

work="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/backtrack.XXXXXX")"
out="$work/stdout"
err="$work/stderr"

# bt_run ARGS…: runs backtrack with stdout in $out and stderr in $err (echoed to the log);
# returns its exit code.
bt_run() {
  local code=0
  "$bt" "$@" >"$out" 2>"$err" || code=$?
  cat "$err" >&2
  return "$code"
}

# The command failed: say why in an annotation and in the summary, then stop with its code.
bt_failed() { # bt_failed CODE WHAT
  local first
  first="$(grep -m 1 '^error:' "$err" || tail -n 1 "$err" || true)"
  first="${first#error: }"
  echo "::error title=$(gh_escape_property "backtrack $2 failed")::$(gh_escape_data "${first:-exit code $1}")"
  summary "### ❌ backtrack: $2 of \`$scope\` failed (exit code $1)" "" '```text'
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then tail -n 40 "$err" >>"$GITHUB_STEP_SUMMARY"; fi
  summary '```' ""
  exit "$1"
}

# Commands that only read an archive never create one (a mistyped store is an error, not
# an empty archive). A folder store on a fresh runner legitimately does not exist yet, so
# make it (init finds what exists) and "no snapshot yet" stays the answer there. A git://
# branch is never created by a reader (its workflow may only read contents): its absence is
# read as "no snapshot yet" by list_snapshots.
ensure_folder_store() {
  case "${BACKTRACK_STORE:-}" in
    s3://* | git://*) ;;
    *) bt_run --quiet init || bt_failed "$?" "init" ;;
  esac
}

# bt_run --json snapshot list SCOPE, with a git:// archive branch that does not exist yet
# answering no snapshots.
list_snapshots() {
  local code=0
  bt_run --json snapshot list "$scope" || code=$?
  if [[ "$code" -ne 0 && "${BACKTRACK_STORE:-}" == git://* ]] && grep -q 'does not exist yet' "$err"; then
    echo "[]" >"$out"
    return 0
  fi
  return "$code"
}

# A GitHub-hosted runner's disk goes with the job: without a store, the archive lives in this
# repository, in an orphan branch written through the Git Data API (the workflow's token
# needs `permissions: contents: write`; see the README on protecting the branch).
default_store=""
if [[ -z "${BACKTRACK_STORE:-}" ]]; then
  if [[ "${RUNNER_ENVIRONMENT:-}" == github-hosted ]]; then
    export BACKTRACK_STORE="git://backtrack-archive"
    default_store=1
  else
    echo "::notice title=backtrack: store::store is not set, so snapshots go to a folder in this runner's home; set store: git://backtrack-archive to keep them in this repository (needs contents: write), or s3://BUCKET/PREFIX"
  fi
fi
# shellcheck disable=SC2329 # invoked by the EXIT trap below
note_default_store() {
  if [[ -n "$default_store" ]]; then
    summary "" "<sub>Store: \`$BACKTRACK_STORE\` in this repository (the default on GitHub-hosted runners when \`store\` is empty; it needs \`permissions: contents: write\`).</sub>"
  fi
}
trap note_default_store EXIT

case "$command" in
  snapshot)
    trigger=manual
    case "${GITHUB_EVENT_NAME:-}" in
      pull_request | pull_request_target) if [[ "${PR_MERGED:-}" == true ]]; then trigger=merge; fi ;;
      push) trigger=push ;;
      schedule) trigger=schedule ;;
    esac
    args=(--github-output snapshot create "$scope" --trigger "$trigger")
    if [[ -n "${INPUT_NAME:-}" ]]; then args+=(--name "$INPUT_NAME"); fi
    bt_run "${args[@]}" || bt_failed "$?" "snapshot"
    cat "$out"
    ;;

  diff)
    md="$work/diff.md"
    # Without a snapshot there is nothing to compare with: say so instead of failing.
    if [[ -z "${INPUT_FROM:-}" || "${INPUT_FROM}" == latest ]]; then
      ensure_folder_store
      list_snapshots || bt_failed "$?" "snapshot list"
      if [[ "$(tr -d '[:space:]' <"$out")" == "[]" ]]; then
        echo "No snapshot of $scope yet; nothing to compare with."
        set_output changes false
        summary "### backtrack: diff of \`$scope\`" "" \
          "No snapshot of \`$scope\` yet, so there is nothing to compare with. Take one with \`command: snapshot\`." ""
        exit 0
      fi
    fi
    # 64,000 leaves room for the comment's marker and footer under GitHub's 65,536.
    args=(--github-output diff "$scope" --format markdown --max-chars 64000 --exit-code -o "$md")
    # The same diff as one HTML page, which the next step uploads as an artifact.
    if [[ -n "${INPUT_REPORT_ARTIFACT:-}" ]]; then args+=(--report "$work/$INPUT_REPORT_ARTIFACT.html"); fi
    if [[ -n "${INPUT_FROM:-}" ]]; then args+=(--from "$INPUT_FROM"); fi
    if [[ -n "${INPUT_TO:-}" ]]; then args+=(--to "$INPUT_TO"); fi
    code=0
    bt_run "${args[@]}" || code=$?
    case "$code" in
      0) changes=false ;;
      1) changes=true ;;
      *) bt_failed "$code" "diff" ;;
    esac

    if [[ "${INPUT_COMMENT:-false}" == true ]]; then
      if [[ -z "${PR_NUMBER:-}" ]]; then
        echo "::warning title=backtrack: no pull request::comment: true needs a pull_request event; no comment was posted"
        summary "_No PR comment: this run is not for a pull request._"
        exit 0
      fi
      body="$work/comment.md"
      {
        cat "$md"
        # A cut comment points at the whole diff: the report artifact of this run.
        if [[ -n "${INPUT_REPORT_ARTIFACT:-}" && -n "${GITHUB_RUN_ID:-}" ]] && grep -q 'This diff is cut to stay under' "$md"; then
          # shellcheck disable=SC2016 # the backticks are Markdown, not a command
          printf '\n> The whole diff, as one page that opens offline: the `%s` artifact of [this run](%s/%s/actions/runs/%s#artifacts).\n' \
            "$INPUT_REPORT_ARTIFACT" "${GITHUB_SERVER_URL:-https://github.com}" "${GITHUB_REPOSITORY:?}" "$GITHUB_RUN_ID"
        fi
        sha="${GITHUB_SHA:-unknown}"
        printf '\n\n<sub>Updated by backtrack for %s (%s).</sub>\n' "${sha:0:7}" "${GITHUB_EVENT_NAME:-manual}"
      } >"$body"
      args=(--github-output comment upsert --repo "${GITHUB_REPOSITORY:?}" --pr "$PR_NUMBER"
        --marker "diff $scope" --body-file "$body")
      # No changes and no comment yet: stay quiet rather than post "nothing changed".
      if [[ "$changes" == false ]]; then args+=(--update-only); fi
      bt_run "${args[@]}" || bt_failed "$?" "PR comment"
      cat "$out"
    fi
    ;;

  rollback)
    if [[ -n "${INPUT_INTO:-}" ]]; then
      # A copy into another scope: `restore TO --into INTO` (the same engine and rules).
      args=(--github-output restore "$INPUT_TO" --into "$INPUT_INTO")
    else
      args=(--github-output rollback "$scope")
      if [[ -n "${INPUT_TO:-}" ]]; then args+=(--to "$INPUT_TO"); fi
    fi
    # by: logins separated by commas or spaces; the CLI checks each (the library's rule).
    # (read, not word splitting: a login like renovate[bot] is also a glob pattern).
    IFS=', ' read -ra actors <<<"${INPUT_BY:-}"
    for actor in "${actors[@]}"; do
      if [[ -n "$actor" ]]; then args+=(--by "$actor"); fi
    done
    if [[ -n "${INPUT_SINCE:-}" ]]; then args+=(--since "$INPUT_SINCE"); fi
    if [[ "${INPUT_EXECUTE:-false}" == true ]]; then args+=(--execute --yes); fi
    bt_run "${args[@]}" || bt_failed "$?" "rollback"
    cat "$out"
    ;;

  list)
    ensure_folder_store
    code=0
    bt_run --github-output snapshot list "$scope" || code=$?
    if [[ "$code" -ne 0 ]]; then
      # A git:// archive branch that does not exist yet: no snapshots (see list_snapshots).
      if [[ "${BACKTRACK_STORE:-}" == git://* ]] && grep -q 'does not exist yet' "$err"; then
        echo "No snapshots of $scope yet."
        summary "### backtrack: snapshots of \`$scope\`" "" "No snapshots of \`$scope\` yet." ""
        exit 0
      fi
      bt_failed "$code" "snapshot list"
    fi
    cat "$out"
    ;;
esac
