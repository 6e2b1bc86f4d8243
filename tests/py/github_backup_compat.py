"""python-github-backup, unmodified, against the sandbox.

github-backup only speaks https://HOST/api/v3, so this puts bench/tls_proxy.py (a TLS
terminator) in front of the sandbox with a throwaway CA, runs github-backup with
--issues --issue-comments --labels --milestones, and checks that what it saved is exactly
what the sandbox serves: the same issues, comments, labels and milestones, field for field. Prints a JSON summary as its last line; exits non-zero on a mismatch.

Usage: github_backup_compat.py SANDBOX_URL TLS_PORT TOKEN WORKDIR
"""

import glob
import json
import os
import subprocess
import sys
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from tls_proxy import make_certificates  # noqa: E402 (found through the path set just above)


def listing(base, token, path):
    items, page = [], 1
    sep = "&" if "?" in path else "?"
    while True:
        req = urllib.request.Request(f"{base}{path}{sep}per_page=100&page={page}")
        req.add_header("Authorization", f"token {token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            chunk = json.loads(r.read())
        if not chunk:
            return items
        items += chunk
        page += 1


def main():
    base, tls_port, token, work = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    ca, cert, key = make_certificates(work)
    target = base.removeprefix("http://").rstrip("/")
    proxy = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "bench", "tls_proxy.py"), "--cert", cert, "--key", key,
         "--listen", tls_port, "--target", target], stdout=subprocess.PIPE, text=True)
    try:
        proxy.stdout.readline()
        out = os.path.join(work, "backup")
        tool = os.path.join(os.path.dirname(sys.executable), "github-backup")
        env = dict(os.environ, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
        run = subprocess.run(
            [tool, "acme", "-t", token, "-H", f"127.0.0.1:{tls_port}", "-R", "widgets",
             "--issues", "--issue-comments", "--labels", "--milestones", "-o", out],
            env=env, capture_output=True, text=True, timeout=300)
        sys.stderr.write(run.stderr[-3000:])
        if run.returncode != 0:
            sys.exit(f"github-backup exited {run.returncode}")
    finally:
        proxy.terminate()
        proxy.wait()

    repo = os.path.join(out, "repositories", "widgets")
    saved, saved_comments = {}, {}
    for path in glob.glob(os.path.join(repo, "issues", "*.json")):
        with open(path) as fh:
            issue = json.load(fh)
        for c in issue.pop("comment_data", []):
            saved_comments[c["id"]] = (issue["number"], c)
        saved[issue["number"]] = issue
    with open(os.path.join(repo, "labels", "labels.json")) as fh:
        labels = json.load(fh)
    # One file per milestone (named by number), one file for all labels.
    milestones = {}
    for path in glob.glob(os.path.join(repo, "milestones", "*.json")):
        with open(path) as fh:
            m = json.load(fh)
        milestones[m["number"]] = m

    # What the sandbox serves, read directly under the same /api/v3 prefix (so every *_url
    # field is the same public URL): the backup must hold exactly these objects.
    api = f"{base}/api/v3"
    live_issues = {i["number"]: i for i in listing(api, token, "/repos/acme/widgets/issues?state=all")}
    live_comments = {c["id"]: c for c in listing(api, token, "/repos/acme/widgets/issues/comments")}
    live_labels = listing(api, token, "/repos/acme/widgets/labels")
    live_milestones = {m["number"]: m for m in
                       listing(api, token, "/repos/acme/widgets/milestones?state=all")}
    problems = []
    if sorted(saved) != sorted(live_issues):
        problems.append(f"issue numbers differ: {len(saved)} saved, {len(live_issues)} live")
    problems += [f"issue #{n} differs" for n, i in live_issues.items()
                 if n in saved and saved[n] != i]
    if sorted(saved_comments) != sorted(live_comments):
        problems.append(f"comment ids differ: {len(saved_comments)} saved, {len(live_comments)} live")
    for cid, (number, c) in saved_comments.items():
        if live_comments.get(cid) != c:
            problems.append(f"comment {cid} differs")
        if not c["issue_url"].endswith(f"/issues/{number}"):
            problems.append(f"comment {cid} saved under issue #{number}")
    if sorted(labels, key=lambda x: x["id"]) != sorted(live_labels, key=lambda x: x["id"]):
        problems.append("labels differ")
    if milestones != live_milestones:
        problems.append("milestones differ")
    # A thread longer than one page (100) proves Link pagination through the terminator.
    threads = {}
    for number, _ in saved_comments.values():
        threads[number] = threads.get(number, 0) + 1
    summary = {"issues": len(saved), "comments": len(saved_comments), "labels": len(labels),
               "milestones": len(milestones), "longest_thread": max(threads.values(), default=0),
               "problems": problems[:10]}
    print(json.dumps(summary))
    sys.exit(1 if problems else 0)

if __name__ == "__main__":
    main()
