"""python-github-backup, unmodified, against the sandbox.

github-backup only speaks https://HOST/api/v3, so this puts bench/tls_proxy.py (a TLS
terminator) in front of the sandbox with a throwaway CA, runs github-backup with
--issues --issue-comments --labels --milestones, and compares what it saved with the
sandbox's own listings. Prints a JSON summary as its last line; exits non-zero on a mismatch.

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
    saved = {}
    comments = 0
    for path in glob.glob(os.path.join(repo, "issues", "*.json")):
        with open(path) as fh:
            issue = json.load(fh)
        saved[issue["number"]] = issue
        comments += len(issue.get("comment_data", []))
    with open(os.path.join(repo, "labels", "labels.json")) as fh:
        labels = json.load(fh)
    # One file per milestone (named by number), one file for all labels.
    milestones = glob.glob(os.path.join(repo, "milestones", "*.json"))

    live_issues = listing(base, token, "/repos/acme/widgets/issues?state=all")
    live_comments = listing(base, token, "/repos/acme/widgets/issues/comments")
    problems = []
    if sorted(saved) != sorted(i["number"] for i in live_issues):
        problems.append("issue numbers differ")
    for i in live_issues:
        s = saved.get(i["number"], {})
        if s.get("title") != i["title"] or s.get("body") != i["body"] or s.get("state") != i["state"]:
            problems.append(f"issue #{i['number']} differs")
    if comments != len(live_comments):
        problems.append(f"{comments} comments saved, {len(live_comments)} live")
    summary = {"issues": len(saved), "comments": comments, "labels": len(labels),
               "milestones": len(milestones), "problems": problems[:10]}
    print(json.dumps(summary))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
