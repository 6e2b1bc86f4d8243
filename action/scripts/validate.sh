#!/usr/bin/env bash
# Checks the Action's inputs before anything is downloaded or built. Every failure is an
# `::error title=…::` annotation that names the input, plus a line in the job summary.
#
# Reads: INPUT_COMMAND, INPUT_SCOPE, INPUT_TO, INPUT_EXECUTE, INPUT_BY, INPUT_SINCE, INPUT_INTO, INPUT_COMMENT,
# INPUT_BINARY.
set -euo pipefail

# shellcheck source=action/scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

failed=0
bad() { # bad INPUT MESSAGE
  input_error "$1" "$2"
  failed=1
}

command="${INPUT_COMMAND:-}"
case "$command" in
  snapshot | diff | rollback | list) ;;
  "") bad command "command is required: one of snapshot, diff, rollback, list" ;;
  *) bad command "command \"$command\" is not one of snapshot, diff, rollback, list" ;;
esac

scope="${INPUT_SCOPE:-}"
if [[ -z "$scope" ]]; then
  bad scope "scope is empty; expected github:OWNER/REPO, jira:PROJ or jira:PROJ-123"
elif ! [[ "$scope" == github:* || "$scope" == jira:* ]]; then
  # Only the tracker prefix is checked here, before anything is installed: the scope's own
  # rules (GitHub's names, Jira's keys, in any case) are the library's, and the CLI applies
  # them with a message that says what is wrong.
  bad scope "scope \"$scope\" is malformed; expected github:OWNER/REPO, jira:PROJ or jira:PROJ-123"
fi

check_bool() { # check_bool INPUT VALUE
  case "$2" in
    true | false) ;;
    *) bad "$1" "$1 must be true or false, not \"$2\"" ;;
  esac
}
check_bool execute "${INPUT_EXECUTE:-false}"
check_bool comment "${INPUT_COMMENT:-false}"

if [[ "${INPUT_EXECUTE:-false}" == true ]]; then
  if [[ "$command" != rollback ]]; then
    bad execute "execute: true only applies to command: rollback"
  elif [[ -z "${INPUT_TO:-}" ]]; then
    bad to "execute: true needs the snapshot to roll back to: set to: (a snapshot id or name)"
  fi
fi

if [[ (-n "${INPUT_BY:-}" || -n "${INPUT_SINCE:-}") && "$command" != rollback ]]; then
  bad by "by: and since: only apply to command: rollback"
fi

if [[ -n "${INPUT_INTO:-}" ]]; then
  if [[ "$command" != rollback ]]; then
    bad into "into: only applies to command: rollback"
  elif [[ -z "${INPUT_TO:-}" ]]; then
    bad into "into: needs the snapshot to copy: set to: (a snapshot id or name)"
  fi
fi

if [[ "${INPUT_COMMENT:-false}" == true && "$command" != diff ]]; then
  bad comment "comment: true only applies to command: diff"
fi

if [[ -n "${INPUT_BINARY:-}" && ! -x "${INPUT_BINARY}" ]]; then
  bad binary "binary \"${INPUT_BINARY}\" is not an executable file"
fi

exit "$failed"
