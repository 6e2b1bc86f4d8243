#!/usr/bin/env python3
"""Writes the SAM template a release ships beside its Lambda zips.

    release-template.py VERSION OUT_DIR [TEMPLATE]

infra/template.yaml builds each function from source (`BuildMethod: rust-cargolambda`, the
code at `CodeUri: ..`), which needs a Rust toolchain and cargo-lambda. The released copy points
each function's CodeUri at its zip asset, `backtrack-lambda-<function>-VERSION-arm64.zip`, and
drops the build metadata, so `sam deploy` in a folder holding the template and the zips
deploys the released binaries with no build. Everything else in the template (and its
comments) is kept as written: the copy is made line by line, not re-serialized.
"""

import re
import sys
from pathlib import Path

BUILD_LINES = (
    re.compile(r"^\s+BuildMethod: rust-cargolambda\s*$"),
    re.compile(r"^\s+BuildProperties:\s*$"),
)
BINARY = re.compile(r"^\s+Binary: backtrack-([a-z0-9-]+)\s*$")
CODE_URI = re.compile(r"^(\s+)CodeUri: \.\.\s*$")
INDENT = re.compile(r"^(\s*)\S")


def indent(line):
    match = INDENT.match(line)
    return len(match.group(1)) if match else None


def release_template(text, version):
    lines = text.splitlines()
    out, functions, pending = [], [], None
    for line in lines:
        binary = BINARY.match(line)
        if binary:
            pending = binary.group(1)
            continue
        if any(p.match(line) for p in BUILD_LINES):
            continue
        code_uri = CODE_URI.match(line)
        if code_uri:
            if pending is None:
                sys.exit(f"release-template: a `CodeUri: ..` without a Binary above it: {line.strip()}")
            out.append(f"{code_uri.group(1)}CodeUri: backtrack-lambda-{pending}-{version}-arm64.zip")
            functions.append(pending)
            pending = None
            continue
        out.append(line)
    # A Metadata block that held only the build settings is dropped, not left empty.
    kept = []
    for i, line in enumerate(out):
        if line.strip() == "Metadata:":
            following = next((l for l in out[i + 1 :] if l.strip()), "")
            if indent(following) is None or indent(following) <= indent(line):
                continue
        kept.append(line)
    if pending is not None:
        sys.exit(f"release-template: backtrack-{pending} has no `CodeUri: ..`")
    return "\n".join(kept) + "\n", functions


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    version, out_dir = sys.argv[1], Path(sys.argv[2])
    source = Path(sys.argv[3]) if len(sys.argv) == 4 else Path(__file__).resolve().parents[2] / "infra/template.yaml"
    text, functions = release_template(source.read_text(), version)
    if not functions:
        sys.exit(f"release-template: no function built from source in {source}")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"backtrack-{version}-template.yaml"
    target.write_text(text)
    for fn in functions:
        print(f"{fn}: backtrack-lambda-{fn}-{version}-arm64.zip")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
