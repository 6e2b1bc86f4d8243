#!/usr/bin/env python3
"""PyGithub against the backtrack sandbox: a client we did not write must work unchanged.

Usage: pygithub_compat.py BASE_URL TOKEN [OWNER/REPO]

BASE_URL is the sandbox root (e.g. http://127.0.0.1:43817); PyGithub is pointed at the
Enterprise form BASE_URL/api/v3. Lists every issue (state=all), every comment (repo-wide),
labels and milestones, reads one long thread page by page, edits an issue, creates, edits and
deletes a comment, and checks invariants between what it saw. The last stdout line is a JSON
summary; the exit status is non-zero on any mismatch.
"""

import json
import sys

from github import Auth, Github, GithubException


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    base, token = sys.argv[1].rstrip("/"), sys.argv[2]
    full_name = sys.argv[3] if len(sys.argv) > 3 else "acme/widgets"
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    def client(per_page: int) -> Github:
        # retry=None: no faults are injected here, and a retry would hide a wrong answer.
        # PyGithub throttles itself (0.25 s per request, 1 s per write) for github.com's sake.
        return Github(base_url=f"{base}/api/v3", auth=Auth.Token(token), per_page=per_page,
                      retry=None, seconds_between_requests=0, seconds_between_writes=0)

    g = client(100)
    me = g.get_user().login
    repo = g.get_repo(full_name)
    check(repo.full_name == full_name, f"repo full_name {repo.full_name!r}")
    check(repo.default_branch == "main", "default_branch")

    issues = list(repo.get_issues(state="all"))
    comments = list(repo.get_issues_comments())
    labels = list(repo.get_labels())
    milestones = list(repo.get_milestones(state="all"))

    numbers = [i.number for i in issues]
    check(len(numbers) == len(set(numbers)), "issue numbers are unique")
    check(numbers == sorted(numbers, reverse=True), "issues come newest first")
    by_number = {i.number: i for i in issues}
    check(sum(i.comments for i in issues) == len(comments), "sum of issue.comments == comments listed")
    comment_ids = [c.id for c in comments]
    check(len(comment_ids) == len(set(comment_ids)), "comment ids are unique")
    check(comment_ids == sorted(comment_ids), "repo-wide comments come in id order")
    for c in comments[:: max(1, len(comments) // 200)]:
        n = int(c.issue_url.rsplit("/", 1)[1])
        check(n in by_number, f"comment {c.id} belongs to a listed issue")
        if n in by_number:
            check(c.created_at >= by_number[n].created_at, f"comment {c.id} after its issue")
    label_names = {label.name for label in labels}
    for i in issues:
        check(all(label.name in label_names for label in i.labels), f"#{i.number} labels exist")
        check(i.updated_at >= i.created_at, f"#{i.number} updated_at >= created_at")
        check((i.state == "closed") == (i.closed_at is not None), f"#{i.number} closed_at")
    open_count = sum(1 for i in issues if i.state == "open")
    check(repo.open_issues_count == open_count, "open_issues_count matches open issues and PRs")
    for m in milestones:
        members = [i for i in issues if i.milestone is not None and i.milestone.number == m.number]
        check(m.open_issues + m.closed_issues == len(members), f"milestone {m.number} counters")
    # `pull_request` is absent on plain issues, and reading it makes PyGithub fetch each one.
    prs = sum(1 for i in issues if "/pull/" in i.html_url)

    # One long thread, read page by page (per_page=30 forces several pages).
    hot = max(issues, key=lambda i: i.comments)
    thread = list(g.get_repo(full_name).get_issue(hot.number).get_comments())
    check(len(thread) == hot.comments, "per-issue comments paginate completely")
    g30 = client(30)
    check(len(list(g30.get_repo(full_name).get_issue(hot.number).get_comments())) == hot.comments,
          "per-issue comments with per_page=30")

    # Edit an open issue, then read it back; a conditional refresh must answer 304.
    target = next(i for i in issues if i.state == "open" and "/pull/" not in i.html_url)
    keep = sorted(label_names)[:2]
    target.edit(title=target.title + " (edited)", labels=keep, state="closed", state_reason="not_planned")
    again = repo.get_issue(target.number)
    check(again.title.endswith("(edited)"), "edit: title")
    check(again.state == "closed" and again.state_reason == "not_planned", "edit: state_reason")
    check(sorted(label.name for label in again.labels) == keep, "edit: labels")
    check(again.update() is False, "conditional GET answers 304 (update() is False)")

    # Comment round trip; counts come back to where they were.
    before = again.comments
    c = again.create_comment("Hello from PyGithub")
    check(c.user.login == me, "comment author is the token's user")
    check(repo.get_issue(target.number).comments == before + 1, "comment count +1")
    c.edit("Hello again")
    check(repo.get_issue(target.number).get_comment(c.id).body == "Hello again", "comment edit")
    c.delete()
    check(repo.get_issue(target.number).comments == before, "comment count back")
    try:
        repo.get_issue(target.number).get_comment(c.id)
        failures.append("deleted comment still readable")
    except GithubException as e:
        check(e.status == 404, f"deleted comment answers 404, got {e.status}")

    summary = {
        "issues": len(issues),
        "comments": len(comments),
        "labels": len(labels),
        "milestones": len(milestones),
        "open_issues": open_count,
        "pull_requests": prs,
        "longest_thread": hot.comments,
        "user": me,
        "failures": failures[:20],
    }
    print(json.dumps(summary, sort_keys=True))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
