#!/usr/bin/env python3
"""Compare the Jira sandbox's responses with responses recorded from a real Jira Cloud site.

Usage: jira_recorded_shapes.py BASE_URL TOKEN PROJECT RESPONSES_DIR

RESPONSES_DIR is `tests/responses/jira` of the atlassian-python-api sdist, which ships real
Jira Cloud answers as Python literals (`responses[<request>] = {...}`). For each recorded
REST v2 answer the sandbox also serves (an issue with `fields=*all`, an issue's comment
page, one comment, `POST /comment/list`, a create refused for a field that is not on the
screen), the sandbox's answer to the same request on its Cloud flavour must have the same
shape: every key the recording has, at every depth (the first element standing for a list),
with the same JSON type wherever both values are not null. Keys whose presence depends on a
site's configuration rather than on Jira are listed in OPTIONAL.

Exits non-zero on any difference; the last line is a JSON summary.
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.request

# Keys a real answer carries only with data the sandbox does not seed: a project category,
# logged work (`timetracking`'s times, and `progress.percent`, which Jira leaves out while
# nothing is estimated or logged), a service desk's flag, entity properties.
OPTIONAL = {"projectCategory", "timeSpent", "timeSpentSeconds", "percent", "jsdPublic",
            "properties"}


def load(path):
    """The recorded answers of one file: {request key: body}."""
    scope = {"responses": {}, "null": None, "true": True, "false": False}
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), scope)  # noqa: S102 (the sdist's own fixture format)
    return scope["responses"]


def kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def compare(recorded, ours, path, problems):
    if isinstance(recorded, dict):
        if not isinstance(ours, dict):
            problems.append(f"{path}: recorded an object, sandbox sent {kind(ours)}")
            return
        for k, rv in recorded.items():
            if k == "status_code":
                continue
            if k not in ours:
                if k not in OPTIONAL:
                    problems.append(f"{path}.{k}: missing")
                continue
            compare(rv, ours[k], f"{path}.{k}", problems)
    elif isinstance(recorded, list):
        if not isinstance(ours, list):
            problems.append(f"{path}: recorded a list, sandbox sent {kind(ours)}")
        elif recorded and ours:
            compare(recorded[0], ours[0], f"{path}[0]", problems)
    elif recorded is not None and ours is not None and kind(recorded) != kind(ours):
        problems.append(f"{path}: recorded {kind(recorded)}, sandbox sent {kind(ours)}")


class Client:
    def __init__(self, base, token):
        self.base = base.rstrip("/")
        pair = base64.b64encode(f"shapes@example.com:{token}".encode()).decode()
        self.auth = f"Basic {pair}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    base, token, project, root = sys.argv[1:]
    api = os.path.join(root, "rest", "api", "2")
    if not os.path.isdir(api):
        print(f"recorded responses not found under {api}", file=sys.stderr)
        return 2
    c = Client(base, token)
    _, page = c.call("POST", "/rest/api/2/search/jql",
                     {"jql": f"project = {project} ORDER BY key", "fields": ["comment"],
                      "maxResults": 100})
    # An issue with comments, subtasks and links, so nested shapes can be compared.
    rich = next((i["key"] for i in page["issues"] if i["fields"]["comment"]["total"] > 2),
                f"{project}-1")
    _, comments = c.call("GET", f"/rest/api/2/issue/{rich}/comment")
    cid = comments["comments"][0]["id"]

    checks = [
        ("issue/FOO-123/GET", "fields=*all", "GET", f"/rest/api/2/issue/{rich}?fields=*all", None),
        ("issue/FOO-123/comment/GET", None, "GET", f"/rest/api/2/issue/{rich}/comment", None),
        ("issue/FOO-123/comment/10000/GET", None, "GET",
         f"/rest/api/2/issue/{rich}/comment/{cid}", None),
        ("comment/list/POST", None, "POST", "/rest/api/2/comment/list", {"ids": [int(cid)]}),
    ]
    results = []
    for rel, key, method, path, body in checks:
        recorded = load(os.path.join(api, rel))
        rec = recorded[key] if key in recorded else next(iter(recorded.values()))
        status, ours = c.call(method, path, body)
        problems = [] if status == 200 else [f"status {status}: {json.dumps(ours)[:200]}"]
        if status == 200:
            compare(rec, ours, "$", problems)
        results.append((f"{method} {rel}", problems))

    # A create refused for a field that is not on the screen: the same envelope and sentence.
    recorded = load(os.path.join(api, "issue", "POST"))
    refused = next(v for v in recorded.values() if v.get("status_code") == 400)
    status, ours = c.call("POST", "/rest/api/2/issue", {"fields": {
        "project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "x",
        "watches": ["nobody"]}})
    problems = [] if status == 400 else [f"status {status}"]
    # The envelope's shape; the field named differs (the recording refused `labels`).
    compare({"errorMessages": refused["errorMessages"], "errors": {}}, ours, "$", problems)
    sentence = refused["errors"]["labels"].replace("'labels'", "'watches'")
    if (ours or {}).get("errors", {}).get("watches") != sentence:
        problems.append(f"errors.watches is {ours.get('errors')!r}, recorded wording {sentence!r}")
    results.append(("POST issue/POST (400)", problems))

    failed = 0
    for label, problems in results:
        print(("ok   " if not problems else "FAIL ") + label)
        for p in problems[:10]:
            print("     " + p)
        failed += bool(problems)
    print(json.dumps({"compared": len(results), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
