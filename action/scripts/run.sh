#!/usr/bin/env bash
# Runs one backtrack command for the Action, sets its outputs and writes the job summary.
#
# Reads: BACKTRACK (the binary), INPUT_COMMAND, INPUT_SCOPE, INPUT_NAME, INPUT_FROM, INPUT_TO,
# INPUT_EXECUTE, INPUT_COMMENT, PR_NUMBER, PR_MERGED, BACKTRACK_STORE, BACKTRACK_CATALOG,
# GITHUB_TOKEN, GITHUB_API_URL, BACKTRACK_COMMENT_AUTHOR, GITHUB_REPOSITORY, GITHUB_EVENT_NAME.
set -euo pipefail

# shellcheck source=action/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bt="${BACKTRACK:?the install step did not find a backtrack binary}"
command="${INPUT_COMMAND:?}"
scope="${INPUT_SCOPE:?}"
# An empty input means "the CLI's default", not an empty value.
for var in BACKTRACK_STORE BACKTRACK_CATALOG GITHUB_TOKEN GITHUB_API_URL BACKTRACK_COMMENT_AUTHOR; do
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

# The value of a top-level string field in the CLI's pretty-printed --json output.
json_top_string() { # json_top_string FIELD FILE
  sed -n "s/^  \"$1\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" "$2" | head -n 1
}

# A file as a code block, capped well under the summary's 1 MiB limit.
code_block() { # code_block FILE
  local cap=400000
  summary '```text'
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    head -c "$cap" "$1" >>"$GITHUB_STEP_SUMMARY"
  fi
  summary '```'
  if [[ "$(wc -c <"$1")" -gt "$cap" ]]; then
    summary "_Cut at $cap bytes; the step's log has all of it._"
  fi
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
    args=(--json snapshot create "$scope" --trigger "$trigger")
    if [[ -n "${INPUT_NAME:-}" ]]; then args+=(--name "$INPUT_NAME"); fi
    bt_run "${args[@]}" || bt_failed "$?" "snapshot"
    id="$(json_top_string id "$out")"
    [[ -n "$id" ]] || fail "unexpected output" "snapshot create printed no id"
    set_output snapshot-id "$id"
    bt_run snapshot show "$id" || bt_failed "$?" "snapshot show"
    summary "### ✅ backtrack: snapshot of \`$scope\`" "" \
      "Took snapshot \`$id\`${INPUT_NAME:+ (name \`$INPUT_NAME\`)}, trigger \`$trigger\`." ""
    code_block "$out"
    summary "" "Preview a rollback to it: \`backtrack rollback $scope --to $id\`" ""
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
    args=(diff "$scope" --format markdown --max-chars 64000 --exit-code -o "$md")
    if [[ -n "${INPUT_FROM:-}" ]]; then args+=(--from "$INPUT_FROM"); fi
    if [[ -n "${INPUT_TO:-}" ]]; then args+=(--to "$INPUT_TO"); fi
    code=0
    bt_run "${args[@]}" || code=$?
    case "$code" in
      0) changes=false ;;
      1) changes=true ;;
      *) bt_failed "$code" "diff" ;;
    esac
    set_output changes "$changes"
    set_output diff-markdown-file "$md"
    # The Markdown brings its own heading.
    summary "**backtrack diff** of \`$scope\`" ""
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat "$md" >>"$GITHUB_STEP_SUMMARY"; fi
    summary ""

    if [[ "${INPUT_COMMENT:-false}" == true ]]; then
      if [[ -z "${PR_NUMBER:-}" ]]; then
        echo "::warning title=backtrack: no pull request::comment: true needs a pull_request event; no comment was posted"
        summary "_No PR comment: this run is not for a pull request._"
        exit 0
      fi
      body="$work/comment.md"
      {
        cat "$md"
        sha="${GITHUB_SHA:-unknown}"
        printf '\n\n<sub>Updated by backtrack for %s (%s).</sub>\n' "${sha:0:7}" "${GITHUB_EVENT_NAME:-manual}"
      } >"$body"
      args=(comment upsert --repo "${GITHUB_REPOSITORY:?}" --pr "$PR_NUMBER"
        --marker "diff $scope" --body-file "$body")
      # No changes and no comment yet: stay quiet rather than post "nothing changed".
      if [[ "$changes" == false ]]; then args+=(--update-only); fi
      bt_run "${args[@]}" || bt_failed "$?" "PR comment"
      cat "$out"
      summary "_PR comment: $(head -n 1 "$out")_" ""
    fi
    ;;

  rollback)
    args=(rollback "$scope")
    if [[ -n "${INPUT_TO:-}" ]]; then args+=(--to "$INPUT_TO"); fi
    if [[ "${INPUT_EXECUTE:-false}" == true ]]; then args+=(--execute --yes); fi
    bt_run "${args[@]}" || bt_failed "$?" "rollback"
    cat "$out"
    pre="$(sed -n 's/^Applied [0-9]* write(s)\. Pre-rollback snapshot: \([0-9A-Za-z]*\)$/\1/p' "$out" | head -n 1)"
    if grep -q -e '^This was a preview; nothing was written' -e '^Applied [1-9]' "$out"; then
      set_output changes true
    else
      set_output changes false
    fi
    if [[ "${INPUT_EXECUTE:-false}" == true ]]; then
      if [[ -n "$pre" ]]; then set_output snapshot-id "$pre"; fi
      summary "### ✅ backtrack: rolled back \`$scope\` to \`${INPUT_TO}\`" ""
      if [[ -n "$pre" ]]; then
        summary "Pre-rollback snapshot \`$pre\`: undo with \`backtrack restore $pre --execute\`." ""
      fi
    else
      summary "### backtrack: rollback preview for \`$scope\` → \`${INPUT_TO:-latest}\`" "" \
        "Nothing was written. Run again with \`execute: true\` and \`to: ${INPUT_TO:-<snapshot>}\` to apply it." ""
    fi
    code_block "$out"
    ;;

  list)
    ensure_folder_store
    list_snapshots || bt_failed "$?" "snapshot list"
    newest="$(sed -n 's/^    "id": "\([^"]*\)",\{0,1\}$/\1/p' "$out" | head -n 1)"
    if [[ -n "$newest" ]]; then set_output snapshot-id "$newest"; fi
    bt_run snapshot list "$scope" || bt_failed "$?" "snapshot list"
    cat "$out"
    summary "### backtrack: snapshots of \`$scope\`" ""
    code_block "$out"
    ;;
esac
