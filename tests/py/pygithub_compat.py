#!/usr/bin/env python3
"""PyGithub against the backtrack sandbox: a client we did not write must work unchanged.

Usage: pygithub_compat.py BASE_URL TOKEN [--repo OWNER/REPO] [--other TOKEN] [--bot TOKEN]

BASE_URL is the sandbox root (e.g. http://127.0.0.1:43817); PyGithub is pointed at the
Enterprise form BASE_URL/api/v3. Lists every issue (state=all), every comment (repo-wide),
labels and milestones, reads one long thread page by page and checks invariants between what
it saw; then drives every write the sandbox accepts through PyGithub's own calls (issues,
comments, labels, milestones, an issue's labels), including the refusals, each checked for
status and message as github.com answers them. `--other` is a second user's token (its
writes must be its own), `--bot` a github-actions[bot] token (GET /user answers 403).

The last stdout line is a JSON summary (counts seen before any write, and `writes`: the write
requests made, which the caller compares with the sandbox's counter); the exit status is
non-zero on any mismatch.
"""

import argparse
import json
import sys
from datetime import date, datetime, timezone

from github import Auth, Github, GithubException


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base")
    parser.add_argument("token")
    parser.add_argument("--repo", default="acme/widgets")
    parser.add_argument("--other", help="a second user's token")
    parser.add_argument("--bot", help="a github-actions[bot] token")
    args = parser.parse_args()
    base, token, full_name = args.base.rstrip("/"), args.token, args.repo
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    def client(per_page: int, as_token: str = token) -> Github:
        # retry=None: no faults are injected here, and a retry would hide a wrong answer.
        # PyGithub throttles itself (0.25 s per request, 1 s per write) for github.com's sake.
        return Github(base_url=f"{base}/api/v3", auth=Auth.Token(as_token), per_page=per_page,
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

    writes = 4  # the edit and the comment round trip above
    writes += write_scenarios(repo, g, client, args, check)

    summary = {
        "issues": len(issues),
        "comments": len(comments),
        "labels": len(labels),
        "milestones": len(milestones),
        "open_issues": open_count,
        "pull_requests": prs,
        "longest_thread": hot.comments,
        "user": me,
        "writes": writes,
        "failures": failures[:20],
    }
    print(json.dumps(summary, sort_keys=True))
    return 1 if failures else 0


def refused(call, status: int, check, what: str, message: str | None = None,
            error: dict | None = None) -> None:
    """`call` must raise GitHub's refusal: `status`, and the `message` / first `errors`
    entry given."""
    try:
        call()
    except GithubException as e:
        data = e.data if isinstance(e.data, dict) else {}
        check(e.status == status, f"{what}: status {e.status}, expected {status} ({data})")
        if message is not None:
            check(data.get("message") == message, f"{what}: message {data.get('message')!r}")
        if error is not None:
            got = (data.get("errors") or [None])[0]
            check(got == error, f"{what}: errors[0] {got!r}, expected {error!r}")
        check(str(data.get("status")) == str(status), f"{what}: body status {data.get('status')!r}")
        check(str(data.get("documentation_url", "")).startswith("https://docs.github.com/rest"),
              f"{what}: documentation_url {data.get('documentation_url')!r}")
        return
    check(False, f"{what}: was accepted, expected {status}")


def write_scenarios(repo, g, client, args, check) -> int:
    """Every write endpoint through PyGithub's own calls. Returns the write requests made
    (accepted and refused: each is one request, PyGithub does not retry here)."""
    writes = 0

    def w(n: int = 1) -> None:
        nonlocal writes
        writes += n

    invalid = "Validation Failed"

    # --- issues: create with everything, edit, clear the milestone (PyGithub sends ""). ---
    ms = repo.create_milestone("PyGithub milestone", description="for the write scenarios")
    w()
    made = repo.create_issue("Made by PyGithub", body="**body**", assignees=["alice"],
                             labels=["bug", "pygithub-new-label"], milestone=ms)
    w()
    check(made.title == "Made by PyGithub" and made.state == "open", "create_issue: fields")
    check([a.login for a in made.assignees] == ["alice"], "create_issue: assignees")
    check(sorted(label.name for label in made.labels) == ["bug", "pygithub-new-label"],
          "create_issue: an unknown label is created")
    new_label = repo.get_label("pygithub-new-label")
    check(new_label.color == "ededed" and new_label.description is None,
          "a label created through an issue is ededed without description")
    check(made.milestone is not None and made.milestone.number == ms.number, "create_issue: milestone")
    made.edit(milestone=None)
    w()
    check(repo.get_issue(made.number).milestone is None, "edit(milestone=None) clears it")
    made.edit(state="closed", state_reason="completed")
    w()
    again = repo.get_issue(made.number)
    check(again.state == "closed" and again.state_reason == "completed", "close completed")
    check(again.closed_by is not None and again.closed_by.login == "sandbox-admin", "closed_by")
    made.edit(state="open", state_reason="reopened")
    w()
    check(repo.get_issue(made.number).state_reason == "reopened", "reopen")
    refused(lambda: repo.create_issue(""), 422, check, "create_issue('')", invalid,
            {"resource": "Issue", "code": "missing_field", "field": "title"})
    w()
    refused(lambda: repo.create_issue("x", assignees=["nobody-here"]), 422, check,
            "create_issue(assignees=[unknown])", invalid,
            {"value": "nobody-here", "resource": "Issue", "field": "assignees", "code": "invalid"})
    w()
    refused(lambda: made.edit(state="shut"), 422, check, "edit(state='shut')",
            "Invalid request.\n\nFor 'properties/state', \"shut\" is not a member of "
            "[\"open\", \"closed\"].")
    w()
    refused(lambda: made.edit(state="closed", state_reason="wontfix"), 422, check,
            "edit(state_reason='wontfix')")
    w()
    # PyGithub reads a lazy issue before editing it: the read answers 404, nothing is written.
    refused(lambda: repo.get_issue(999_999).edit(title="x"), 404, check, "edit a missing issue",
            "Not Found")

    # --- comments: create, edit, delete, and what is refused. ---
    c = made.create_comment("first")
    w()
    c.edit("second")
    w()
    check(made.get_comment(c.id).body == "second", "comment edit")
    refused(lambda: made.create_comment(""), 422, check, "create_comment('')", invalid,
            {"resource": "IssueComment", "code": "unprocessable", "field": "data",
             "message": "Body cannot be blank"})
    w()
    refused(lambda: c.edit("   "), 422, check, "comment edit('   ')", invalid)
    w()
    c.delete()
    w()
    refused(lambda: c.edit("after delete"), 404, check, "edit a deleted comment", "Not Found")
    w()
    refused(lambda: c.delete(), 404, check, "delete a deleted comment", "Not Found")
    w()

    # --- labels: CRUD and refusals. ---
    label = repo.create_label("pygithub label", "BADA55", "made by PyGithub")
    w()
    check(label.color == "BADA55", "create_label keeps the colour as sent")
    label.edit("pygithub label 2", "00ff00", "renamed")
    w()
    check(repo.get_label("pygithub label 2").description == "renamed", "label edit")
    refused(lambda: repo.create_label("Bug", "ffffff"), 422, check, "create_label(duplicate)",
            invalid, {"resource": "Label", "code": "already_exists", "field": "name"})
    w()
    refused(lambda: repo.create_label("hashed", "#5319e7"), 422, check, "create_label('#5319e7')",
            invalid, {"resource": "Label", "code": "invalid", "field": "color"})
    w()
    refused(lambda: repo.create_label("long", "ffffff", "d" * 101), 422, check,
            "create_label(description of 101)", invalid,
            {"resource": "Label", "code": "custom", "field": "description",
             "message": "description is too long (maximum is 100 characters)"})
    w()
    refused(lambda: label.edit("question", "ffffff"), 422, check, "label edit onto another name",
            invalid, {"resource": "Label", "code": "already_exists", "field": "name"})
    w()

    # --- an issue's labels: add, set, remove one, remove all. ---
    made.add_to_labels("pygithub label 2", "question")
    w()
    check(sorted(x.name for x in repo.get_issue(made.number).labels)
          == ["bug", "pygithub label 2", "pygithub-new-label", "question"], "add_to_labels")
    made.set_labels("question")
    w()
    check([x.name for x in repo.get_issue(made.number).labels] == ["question"], "set_labels")
    made.remove_from_labels("question")
    w()
    refused(lambda: made.remove_from_labels("question"), 404, check,
            "remove a label the issue lacks", "Label does not exist")
    w()
    made.add_to_labels("bug")
    w()
    made.delete_labels()
    w()
    check(list(repo.get_issue(made.number).labels) == [], "delete_labels")
    label.delete()
    w()
    # get_label is lazy: reading an attribute makes the request.
    refused(lambda: repo.get_label("pygithub label 2").color, 404, check, "a deleted label",
            "Not Found")

    # --- milestones: a due date given as a date, edits, refusals, delete. ---
    # edit() sends a date as YYYY-MM-DD; GitHub keeps it at midnight Pacific time.
    ms.edit("PyGithub milestone", due_on=date(2031, 1, 2))
    w()
    due = repo.get_milestone(ms.number).due_on
    check(due == datetime(2031, 1, 2, 8, 0, tzinfo=timezone.utc),
          f"milestone.edit(due_on=date) answers midnight Pacific: {due}")
    ms.edit("PyGithub milestone", due_on=date(2031, 7, 1), state="closed", description="done")
    w()
    got = repo.get_milestone(ms.number)
    check(got.due_on == datetime(2031, 7, 1, 7, 0, tzinfo=timezone.utc) and got.state == "closed"
          and got.description == "done", "milestone.edit: summer date, state, description")
    # create_milestone sends a date as midnight UTC, which is the day before in Pacific time:
    # GitHub's well-known off-by-one, reproduced.
    dated = repo.create_milestone("PyGithub dated", due_on=date(2031, 1, 2))
    w()
    check(dated.due_on == datetime(2031, 1, 1, 8, 0, tzinfo=timezone.utc),
          f"create_milestone(due_on=date) falls on the Pacific date: {dated.due_on}")
    refused(lambda: repo.create_milestone("PyGithub dated"), 422, check,
            "create_milestone(duplicate)", invalid,
            {"resource": "Milestone", "code": "already_exists", "field": "title"})
    w()
    refused(lambda: dated.edit("PyGithub milestone"), 422, check, "milestone rename onto another",
            invalid, {"resource": "Milestone", "code": "already_exists", "field": "title"})
    w()
    refused(lambda: dated.edit("x", state="done"), 422, check, "milestone edit(state='done')")
    w()
    made.edit(milestone=dated)
    w()
    dated.delete()
    w()
    check(repo.get_issue(made.number).milestone is None, "deleting a milestone clears its issues")
    refused(lambda: repo.get_milestone(dated.number).title, 404, check, "a deleted milestone",
            "Not Found")
    ms.delete()
    w()

    # --- another identity: its writes are its own; a bot's token has no GET /user. ---
    if args.other:
        other = client(30, args.other)
        login = other.get_user().login
        check(login != g.get_user().login, "the second token is another user")
        planted = other.get_repo(repo.full_name).get_issue(made.number).create_comment("planted")
        w()
        check(planted.user.login == login, "a comment is its token's user's")
        check(made.get_comment(planted.id).user.login == login, "…as others read it")
    if args.bot:
        bot = client(30, args.bot)
        refused(lambda: bot.get_user().login, 403, check, "GET /user with a bot's token",
                "Resource not accessible by integration")
        by_bot = bot.get_repo(repo.full_name).create_issue("From a workflow")
        w()
        check(by_bot.user.login == "github-actions[bot]" and by_bot.user.type == "Bot",
              "an issue opened with the bot's token is the bot's")
    return writes


if __name__ == "__main__":
    sys.exit(main())
