#!/usr/bin/env python3
"""Validate the sandbox's responses against GitHub's official OpenAPI description.

Usage: openapi_validate.py BASE_URL TOKEN [OPENAPI_JSON]

OPENAPI_JSON is `generated/api.github.com.json` from the npm package `@octokit/openapi`
(default: $BACKTRACK_OPENAPI_JSON). Every route the sandbox implements is exercised (reads,
creates, updates, deletes and a few error bodies); each JSON body is validated against the
schema GitHub documents for that operation and status. Exits non-zero on any failure.

GitHub's description is OpenAPI 3.0, so schemas are converted for JSON Schema 2020-12:
`nullable: true` becomes a type union with "null" (and `null` joins an `enum`, the known quirk:
`state_reason` is `nullable` with an enum that lacks null), and `$ref`s resolve against the
document's own `components`.
"""

import json
import os
import sys
import urllib.error
import urllib.request

from importlib.metadata import version

from jsonschema import Draft202012Validator

OWNER, REPO = "acme", "widgets"
# OpenAPI-only keywords that mean nothing to JSON Schema (dropped to keep errors readable).
OPENAPI_ONLY = {"discriminator", "example", "examples", "xml", "externalDocs", "deprecated",
                "readOnly", "writeOnly", "x-github", "x-multi-segment"}


def fix(node):
    """OpenAPI 3.0 schema -> JSON Schema 2020-12, recursively."""
    if isinstance(node, list):
        return [fix(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: fix(v) for k, v in node.items() if k not in OPENAPI_ONLY and k != "nullable"}
    if node.get("nullable") is True:
        if "enum" in out and None not in out["enum"]:
            out["enum"] = out["enum"] + [None]
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            out["type"] = t + ["null"]
        elif t is None:
            # $ref / allOf / oneOf / anyOf: null is one more alternative.
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.paths = doc["paths"]
        self.components = fix(doc["components"])
        self.raw_responses = doc["components"].get("responses", {})

    def schema(self, template, method, status):
        op = self.paths.get(template, {}).get(method.lower())
        if op is None:
            return None, f"no operation {method} {template} in the description"
        resp = op.get("responses", {}).get(str(status))
        if resp is None and status >= 400:
            # Some operations document no error at all (e.g. PATCH a label: only 200), yet
            # GitHub refuses bad input there too: hold those bodies to GitHub's error schemas.
            generic = "validation-error" if status == 422 else "basic-error"
            return {"$ref": f"#/components/schemas/{generic}"}, None
        if resp is None:
            return None, f"{method} {template} documents no {status} response"
        if "$ref" in resp:
            resp = self.raw_responses[resp["$ref"].rsplit("/", 1)[1]]
        content = resp.get("content", {}).get("application/json")
        if content is None:
            return {}, None  # documented without a body (e.g. 204)
        return fix(content["schema"]), None

    def validate(self, schema, body):
        # $refs like #/components/schemas/issue resolve inside this root document.
        root = dict(schema)
        root["components"] = self.components
        v = Draft202012Validator(root)
        return sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))


class Client:
    def __init__(self, base, token):
        self.base = base.rstrip("/") + "/api/v3"
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Accept", "application/vnd.github+json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req) as r:
                raw = r.read()
                status = r.status
                headers = r.headers
        except urllib.error.HTTPError as e:
            raw, status, headers = e.read(), e.code, e.headers
        self.last_headers = headers
        return status, (json.loads(raw) if raw else None)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    spec_path = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("BACKTRACK_OPENAPI_JSON")
    if not spec_path or not os.path.exists(spec_path):
        print(f"OpenAPI description not found ({spec_path!r}); pass it or set BACKTRACK_OPENAPI_JSON",
              file=sys.stderr)
        return 2
    spec = Spec(spec_path)
    c = Client(sys.argv[1], sys.argv[2])
    r = f"/repos/{OWNER}/{REPO}"
    R = "/repos/{owner}/{repo}"
    results = []  # (label, ok, detail)

    def check(method, path, template, expect, body=None):
        status, data = c.call(method, path, body)
        label = f"{method} {template} -> {status}"
        if status != expect:
            results.append((label, False, f"expected {expect}, got {status}: {json.dumps(data)[:300]}"))
            return data
        schema, why = spec.schema(template, method, status)
        if schema is None:
            results.append((label, False, why))
            return data
        if not schema:
            ok = data is None
            results.append((label, ok, "" if ok else "expected an empty body"))
            return data
        errors = [f"at /{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                  for e in spec.validate(schema, data)]
        # GitHub answers a create with Location: the new object's URL.
        if status == 201 and c.last_headers.get("Location") != (data or {}).get("url"):
            errors.append(f"Location {c.last_headers.get('Location')!r} is not the new object's url")
        results.append((label, not errors, "; ".join(errors[:3])))
        return data

    # Reads.
    check("GET", "/", "/", 200)
    check("GET", "/user", "/user", 200)
    check("GET", "/users/alice", "/users/{username}", 200)
    check("GET", f"/users/{OWNER}", "/users/{username}", 200)
    check("GET", "/rate_limit", "/rate_limit", 200)
    check("GET", r, R, 200)
    issues = check("GET", f"{r}/issues?state=all&per_page=100", f"{R}/issues", 200) or []
    check("GET", f"{r}/issues?state=closed&sort=updated&direction=asc&labels=bug",
          f"{R}/issues", 200)
    pr = next((i for i in issues if "pull_request" in i), None)
    closed = next((i for i in issues if i["state"] == "closed" and i.get("milestone")), None)
    plain = next((i for i in issues if "pull_request" not in i and i["state"] == "open"), None)
    for i in filter(None, [pr, closed, plain]):
        check("GET", f"{r}/issues/{i['number']}", f"{R}/issues/{{issue_number}}", 200)
    n = plain["number"] if plain else 1
    comments = check("GET", f"{r}/issues/comments?per_page=100&sort=updated",
                     f"{R}/issues/comments", 200) or []
    check("GET", f"{r}/issues/{n}/comments", f"{R}/issues/{{issue_number}}/comments", 200)
    if comments:
        check("GET", f"{r}/issues/comments/{comments[0]['id']}",
              f"{R}/issues/comments/{{comment_id}}", 200)
    check("GET", f"{r}/labels", f"{R}/labels", 200)
    check("GET", f"{r}/labels/good%20first%20issue", f"{R}/labels/{{name}}", 200)
    check("GET", f"{r}/issues/{n}/labels", f"{R}/issues/{{issue_number}}/labels", 200)
    check("GET", f"{r}/milestones?state=all", f"{R}/milestones", 200)
    check("GET", f"{r}/milestones/1", f"{R}/milestones/{{milestone_number}}", 200)

    # Writes.
    made = check("POST", f"{r}/issues", f"{R}/issues", 201,
                 {"title": "Validated", "body": "**hi**", "labels": ["bug"],
                  "assignees": ["alice"], "milestone": 3}) or {}
    m = made.get("number", n)
    check("PATCH", f"{r}/issues/{m}", f"{R}/issues/{{issue_number}}", 200,
          {"state": "closed", "state_reason": "not_planned", "milestone": None})
    com = check("POST", f"{r}/issues/{m}/comments", f"{R}/issues/{{issue_number}}/comments", 201,
                {"body": "a comment"}) or {}
    check("PATCH", f"{r}/issues/comments/{com.get('id', 0)}", f"{R}/issues/comments/{{comment_id}}",
          200, {"body": "edited"})
    check("POST", f"{r}/labels", f"{R}/labels", 201,
          {"name": "validated", "color": "123abc", "description": "made by the validator"})
    check("PATCH", f"{r}/labels/validated", f"{R}/labels/{{name}}", 200,
          {"new_name": "validated 2", "description": None})
    check("POST", f"{r}/issues/{m}/labels", f"{R}/issues/{{issue_number}}/labels", 200,
          {"labels": ["validated 2"]})
    check("PUT", f"{r}/issues/{m}/labels", f"{R}/issues/{{issue_number}}/labels", 200,
          {"labels": ["question", "validated 2"]})
    check("DELETE", f"{r}/issues/{m}/labels/question", f"{R}/issues/{{issue_number}}/labels/{{name}}",
          200)
    check("DELETE", f"{r}/issues/{m}/labels", f"{R}/issues/{{issue_number}}/labels", 204)
    ms = check("POST", f"{r}/milestones", f"{R}/milestones", 201,
               {"title": "Validated", "due_on": "2031-01-01T00:00:00Z"}) or {}
    check("PATCH", f"{r}/milestones/{ms.get('number', 0)}", f"{R}/milestones/{{milestone_number}}",
          200, {"state": "closed", "description": "done"})
    check("DELETE", f"{r}/milestones/{ms.get('number', 0)}", f"{R}/milestones/{{milestone_number}}",
          204)
    check("DELETE", f"{r}/issues/comments/{com.get('id', 0)}", f"{R}/issues/comments/{{comment_id}}",
          204)
    check("DELETE", f"{r}/labels/validated%202", f"{R}/labels/{{name}}", 204)

    # Writes in the other forms GitHub accepts.
    check("POST", f"{r}/issues", f"{R}/issues", 201, {"title": 42, "labels": ["unseen label"]})
    check("PATCH", f"{r}/issues/{m}", f"{R}/issues/{{issue_number}}", 200,
          {"milestone": "", "assignees": [{"login": "bob"}], "body": None})
    dated = check("POST", f"{r}/milestones", f"{R}/milestones", 201,
                  {"title": "Dated", "due_on": "2031-01-02"}) or {}
    check("PATCH", f"{r}/milestones/{dated.get('number', 0)}",
          f"{R}/milestones/{{milestone_number}}", 200, {"due_on": None})
    check("POST", f"{r}/issues/{m}/labels", f"{R}/issues/{{issue_number}}/labels", 200,
          ["bug", {"name": "question"}])

    # Issue types, sub-issues, dependencies, lock, reactions, pins, events and the timeline.
    I = f"{R}/issues/{{issue_number}}"
    check("GET", f"/orgs/{OWNER}/issue-types", "/orgs/{org}/issue-types", 200)
    check("GET", f"{r}/issue-types", f"{R}/issue-types", 200)
    parent = check("POST", f"{r}/issues", f"{R}/issues", 201, {"title": "Parent", "type": "Feature"}) or {}
    kids = [check("POST", f"{r}/issues", f"{R}/issues", 201, {"title": f"Child {k}"}) or {}
            for k in range(3)]
    p_n = parent.get("number", 0)
    check("GET", f"{r}/issues?type=feature&state=all", f"{R}/issues", 200)
    check("GET", f"{r}/issues?mentioned=alice", f"{R}/issues", 200)
    for kid in kids:
        check("POST", f"{r}/issues/{p_n}/sub_issues", f"{I}/sub_issues", 201,
              {"sub_issue_id": kid.get("id", 0)})
    check("PATCH", f"{r}/issues/{p_n}/sub_issues/priority", f"{I}/sub_issues/priority", 200,
          {"sub_issue_id": kids[2].get("id", 0), "before_id": kids[0].get("id", 0)})
    check("GET", f"{r}/issues/{p_n}/sub_issues", f"{I}/sub_issues", 200)
    check("GET", f"{r}/issues/{kids[0].get('number', 0)}/parent", f"{I}/parent", 200)
    check("DELETE", f"{r}/issues/{p_n}/sub_issue", f"{I}/sub_issue", 200,
          {"sub_issue_id": kids[1].get("id", 0)})
    check("POST", f"{r}/issues/{p_n}/sub_issues", f"{I}/sub_issues", 422,
          {"sub_issue_id": parent.get("id", 0)})
    check("POST", f"{r}/issues/{p_n}/dependencies/blocked_by", f"{I}/dependencies/blocked_by", 201,
          {"issue_id": kids[1].get("id", 0)})
    check("GET", f"{r}/issues/{p_n}/dependencies/blocked_by", f"{I}/dependencies/blocked_by", 200)
    check("GET", f"{r}/issues/{kids[1].get('number', 0)}/dependencies/blocking",
          f"{I}/dependencies/blocking", 200)
    check("PUT", f"{r}/issues/{p_n}/lock", f"{I}/lock", 204, {"lock_reason": "too heated"})
    check("GET", f"{r}/issues/{p_n}", I, 200)
    check("PUT", f"{r}/issues/{p_n}/lock", f"{I}/lock", 422, {"lock_reason": "boring"})
    check("DELETE", f"{r}/issues/{p_n}/lock", f"{I}/lock", 204)
    check("POST", f"{r}/issues/{p_n}/assignees", f"{I}/assignees", 201, {"assignees": ["alice"]})
    check("DELETE", f"{r}/issues/{p_n}/assignees", f"{I}/assignees", 200, {"assignees": ["alice"]})
    react = check("POST", f"{r}/issues/{p_n}/reactions", f"{I}/reactions", 201,
                  {"content": "rocket"}) or {}
    check("POST", f"{r}/issues/{p_n}/reactions", f"{I}/reactions", 200, {"content": "rocket"})
    check("GET", f"{r}/issues/{p_n}/reactions", f"{I}/reactions", 200)
    check("DELETE", f"{r}/issues/{p_n}/reactions/{react.get('id', 0)}",
          f"{I}/reactions/{{reaction_id}}", 204)
    note = check("POST", f"{r}/issues/{p_n}/comments", f"{I}/comments", 201,
                 {"body": "pin me, @alice"}) or {}
    C = f"{R}/issues/comments/{{comment_id}}"
    cr = check("POST", f"{r}/issues/comments/{note.get('id', 0)}/reactions", f"{C}/reactions", 201,
               {"content": "heart"}) or {}
    check("GET", f"{r}/issues/comments/{note.get('id', 0)}/reactions", f"{C}/reactions", 200)
    check("DELETE", f"{r}/issues/comments/{note.get('id', 0)}/reactions/{cr.get('id', 0)}",
          f"{C}/reactions/{{reaction_id}}", 204)
    check("PUT", f"{r}/issues/comments/{note.get('id', 0)}/pin", f"{C}/pin", 200)
    check("GET", f"{r}/issues/{p_n}", I, 200)
    check("DELETE", f"{r}/issues/comments/{note.get('id', 0)}/pin", f"{C}/pin", 204)
    check("PATCH", f"{r}/issues/{p_n}", I, 200, {"type": "Bug", "title": "Parent, renamed"})
    events = check("GET", f"{r}/issues/{p_n}/events", f"{I}/events", 200) or []
    check("GET", f"{r}/issues/{p_n}/timeline", f"{I}/timeline", 200)
    check("GET", f"{r}/issues/events?per_page=100", f"{R}/issues/events", 200)
    if events:
        check("GET", f"{r}/issues/events/{events[-1]['id']}", f"{R}/issues/events/{{event_id}}", 200)
    check("GET", f"{r}/milestones/1/labels", f"{R}/milestones/{{milestone_number}}/labels", 200)

    # Error bodies, refusals included (GitHub's "Invalid request" and "Validation Failed").
    check("GET", f"{r}/issues/999999", f"{R}/issues/{{issue_number}}", 404)
    check("GET", f"{r}/labels/no-such-label", f"{R}/labels/{{name}}", 404)
    check("POST", f"{r}/issues", f"{R}/issues", 422, {"body": "no title"})
    check("POST", f"{r}/issues", f"{R}/issues", 422, {"title": ""})
    check("POST", f"{r}/issues", f"{R}/issues", 422, {"title": "x", "assignees": ["nobody-here"]})
    check("PATCH", f"{r}/issues/{m}", f"{R}/issues/{{issue_number}}", 422, {"state": "shut"})
    check("PATCH", f"{r}/issues/{m}", f"{R}/issues/{{issue_number}}", 422, {"milestone": 999})
    check("POST", f"{r}/issues/{m}/comments", f"{R}/issues/{{issue_number}}/comments", 422,
          {"body": ""})
    check("POST", f"{r}/issues/{m}/comments", f"{R}/issues/{{issue_number}}/comments", 422, {})
    check("POST", f"{r}/labels", f"{R}/labels", 422, {"name": "bug"})
    check("POST", f"{r}/labels", f"{R}/labels", 422, {"name": "hashed", "color": "#5319e7"})
    check("PATCH", f"{r}/labels/bug", f"{R}/labels/{{name}}", 422, {"description": "d" * 101})
    check("POST", f"{r}/milestones", f"{R}/milestones", 422, {"title": "v1.0"})
    check("PATCH", f"{r}/milestones/1", f"{R}/milestones/{{milestone_number}}", 422,
          {"due_on": "soon"})
    check("DELETE", f"{r}/issues/{m}/labels/no-such-label",
          f"{R}/issues/{{issue_number}}/labels/{{name}}", 404)
    status, _ = c.call("DELETE", f"{r}/issues/{m}")  # sandbox-only route: no schema to check
    results.append((f"DELETE {R}/issues/{{issue_number}} -> {status} (sandbox-only)", status == 204, ""))
    check("GET", f"{r}/issues/{m}", f"{R}/issues/{{issue_number}}", 410)

    # The Git Data API: a blob, a tree on the default branch, a commit, a branch moved
    # forward, and GitHub's refusals (not a fast forward, a ref that exists or does not).
    g, G = f"{r}/git", f"{R}/git"
    main = check("GET", f"{g}/ref/heads/main", f"{G}/ref/{{ref}}", 200) or {}
    head = (main.get("object") or {}).get("sha", "0" * 40)
    check("GET", f"{g}/matching-refs/heads/", f"{G}/matching-refs/{{ref}}", 200)
    blob = check("POST", f"{g}/blobs", f"{G}/blobs", 201,
                 {"content": "AAEC/w==", "encoding": "base64"}) or {}
    check("GET", f"{g}/blobs/{blob.get('sha', '0' * 40)}", f"{G}/blobs/{{file_sha}}", 200)
    tree = check("POST", f"{g}/trees", f"{G}/trees", 201,
                 {"base_tree": head, "tree": [
                     {"path": "data/a", "mode": "100644", "type": "blob", "content": "a"},
                     {"path": "data/b", "mode": "100644", "type": "blob", "sha": blob.get("sha")}]}) or {}
    tree_sha = tree.get("sha", "0" * 40)
    check("GET", f"{g}/trees/{tree_sha}?recursive=1", f"{G}/trees/{{tree_sha}}", 200)
    commit = check("POST", f"{g}/commits", f"{G}/commits", 201,
                   {"message": "validated", "tree": tree_sha, "parents": [head]}) or {}
    orphan = check("POST", f"{g}/commits", f"{G}/commits", 201,
                   {"message": "orphan", "tree": tree_sha, "parents": [],
                    "author": {"name": "Val", "email": "val@example.com",
                               "date": "2030-01-01T00:00:00Z"}}) or {}
    check("GET", f"{g}/commits/{commit.get('sha', '0' * 40)}", f"{G}/commits/{{commit_sha}}", 200)
    check("POST", f"{g}/refs", f"{G}/refs", 201,
          {"ref": "refs/heads/validated", "sha": head})
    check("POST", f"{g}/refs", f"{G}/refs", 422, {"ref": "refs/heads/validated", "sha": head})
    check("PATCH", f"{g}/refs/heads/validated", f"{G}/refs/{{ref}}", 200,
          {"sha": commit.get("sha"), "force": False})
    check("PATCH", f"{g}/refs/heads/validated", f"{G}/refs/{{ref}}", 422,
          {"sha": orphan.get("sha")})
    check("PATCH", f"{g}/refs/heads/no-such-branch", f"{G}/refs/{{ref}}", 422, {"sha": head})
    check("POST", f"{g}/trees", f"{G}/trees", 422,
          {"tree": [{"path": "x", "mode": "100644", "type": "blob"}]})
    check("POST", f"{g}/commits", f"{G}/commits", 422, {"message": "m", "tree": "e" * 40})
    check("GET", f"{g}/ref/heads/no-such-branch", f"{G}/ref/{{ref}}", 404)
    check("DELETE", f"{g}/refs/heads/validated", f"{G}/refs/{{ref}}", 204)

    failed = [x for x in results if not x[1]]
    for label, ok, detail in results:
        print(("ok   " if ok else "FAIL ") + label + ("" if ok else f"  {detail}"))
    operations = {label.split(" -> ")[0] for label, _, _ in results}
    print(json.dumps({"validated": len(results), "operations": len(operations),
                      "failed": len(failed), "jsonschema": version("jsonschema")}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
