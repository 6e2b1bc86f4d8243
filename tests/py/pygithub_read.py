#!/usr/bin/env python3
"""Reads a repository back with PyGithub, as another client would: what a restore must carry.

Usage: pygithub_read.py BASE_URL TOKEN OWNER/REPO

Prints one JSON object: `labels` (name → colour, description), `milestones` (title → state,
description, due date), and `issues`: every issue that is not a pull request, with its
number, title, body, sorted label names, milestone title, state, state_reason, parent
number (when a sub-issue) and its comments' bodies in order.
"""

import json
import sys

from github import Auth, Github


def main() -> int:
    base, token, full_name = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    gh = Github(base_url=f"{base}/api/v3", auth=Auth.Token(token), retry=None, per_page=100)
    repo = gh.get_repo(full_name)
    labels = {
        l.name: {"color": l.color, "description": l.description or ""}
        for l in repo.get_labels()
    }
    milestones = {
        m.title: {
            "state": m.state,
            "description": m.description or "",
            "due_on": m.due_on.date().isoformat() if m.due_on else None,
        }
        for m in repo.get_milestones(state="all")
    }
    issues = []
    for i in repo.get_issues(state="all", direction="asc", sort="created"):
        if i.pull_request is not None:
            continue
        parent_url = i.raw_data.get("parent_issue_url")
        issues.append(
            {
                "number": i.number,
                "title": i.title,
                "body": i.body or "",
                "labels": sorted(l.name for l in i.labels),
                "milestone": i.milestone.title if i.milestone else None,
                "state": i.state,
                "state_reason": i.raw_data.get("state_reason") if i.state == "closed" else None,
                "parent": int(parent_url.rsplit("/", 1)[1]) if parent_url else None,
                "comments": [c.body for c in i.get_comments()],
            }
        )
    print(json.dumps({"labels": labels, "milestones": milestones, "issues": issues}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
