#!/usr/bin/env bash
# Holds the documentation to the binary, so that it cannot drift from what fer-stream does:
#  1. every long option that `fer-stream --help` and each subcommand's `--help` list appears in
#     docs/usage.md;
#  2. every `fer-stream` command in the README's ```sh blocks parses at the --help level: its
#     subcommand exists, every option it uses is one that command's --help lists, and the command
#     with `--help` added exits 0 (values are not checked: nothing runs);
#  3. every relative link (and #anchor) in README.md, docs/, deploy/README.md, Models/README.md and
#     training/README.md resolves to a file, and an anchor to a heading of it.
# Run by scripts/test.sh after the Swift build. Exit 0: all hold; 1: each problem on a line.
#
# usage: scripts/check-docs.sh [FER_STREAM_BINARY]
#   default: $FER_STREAM, else .build/debug/fer-stream, else .build/release/fer-stream
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${FER_STREAM:-}}
if [ -z "$bin" ]; then
  for candidate in "$root/.build/debug/fer-stream" "$root/.build/release/fer-stream"; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || {
  echo "check-docs: no fer-stream binary (build first: swift build, or pass one as the argument)" >&2
  exit 2
}
exec python3 - "$bin" "$root" <<'PY'
import os, re, shlex, subprocess, sys

binary, root = sys.argv[1], sys.argv[2]
problems = []

def help_text(args):
    r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        problems.append(f"`fer-stream {' '.join(args + ['--help'])}` exited {r.returncode}: {r.stderr.strip()[:200]}")
    return r.stdout

def sections(text):
    """ArgumentParser's help: 'NAME:' headings, then indented entries."""
    out, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Z ]+):", line)
        if m:
            current = m.group(1)
            out[current] = []
        elif current:
            out[current].append(line)
    return out

def options(text):
    """Long and short option names of one command's help: the synopsis column of OPTIONS and of
    every option group's section (LABELS, FACES, MODEL, LIVE VIEW, …)."""
    names = set()
    lines = [l for name, body in sections(text).items()
             if name not in ("OVERVIEW", "USAGE", "ARGUMENTS", "SUBCOMMANDS") for l in body]
    for line in lines:
        if not re.match(r"^\s+-", line):
            continue
        synopsis = re.split(r"\s{2,}", line.strip())[0]
        names.update(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*|-[a-zA-Z])(?![\w-])", synopsis))
    return names - {"--help", "-h", "--version"}

root_help = help_text([])
subcommands = []
for line in sections(root_help).get("SUBCOMMANDS", []):
    # "  name   its abstract…": a name at the entry's indent (wrapped abstracts are indented further).
    m = re.match(r"^  ([a-z][a-z0-9-]*)(\s{2,}|$)", line)
    if m and m.group(1) != "help":
        subcommands.append(m.group(1))
for expected in ("image", "eval", "bench", "resmooth"):
    if expected not in subcommands:
        problems.append(f"`fer-stream --help` lists no subcommand '{expected}' (found: {', '.join(subcommands)})")
command_options = {"": options(root_help)}
for sub in subcommands:
    command_options[sub] = options(help_text([sub]))

# 1. Every long option in docs/usage.md.
usage_path = os.path.join(root, "docs/usage.md")
usage = open(usage_path, encoding="utf-8").read() if os.path.exists(usage_path) else ""
if not usage:
    problems.append("docs/usage.md is missing or empty")
for sub, names in command_options.items():
    for name in sorted(n for n in names if n.startswith("--")):
        if not re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", usage):
            problems.append(f"docs/usage.md does not mention {name} (from `fer-stream {sub + ' ' if sub else ''}--help`)")

# 2. The README's commands.
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
blocks = re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", readme, flags=re.S | re.M)
checked = 0
for block in blocks:
    for line in block.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as e:
            problems.append(f"README: cannot split `{line}`: {e}")
            continue
        segment, segments = [], []
        for t in tokens:
            if t in ("|", "||", "&&", ";"):
                segments.append(segment); segment = []
            else:
                segment.append(t)
        segments.append(segment)
        for seg in segments:
            if not seg or os.path.basename(seg[0]) != "fer-stream":
                continue
            args, skip = [], False
            for t in seg[1:]:
                if skip:
                    skip = False
                elif re.fullmatch(r"\d?>>?|<", t):
                    skip = True  # a redirection and its file
                elif re.match(r"^\d?>>?|^<", t):
                    pass          # a redirection joined to its file
                else:
                    args.append(t)
            sub = args[0] if args and args[0] in command_options and args[0] else ""
            known = command_options[sub]
            for a in args[1 if sub else 0:]:
                if a.startswith("-") and a != "-":
                    name = a.split("=", 1)[0]
                    if name not in known:
                        problems.append(f"README: `{line.strip()}`: `fer-stream {sub + ' ' if sub else ''}--help` lists no {name}")
            r = subprocess.run([binary, *args, "--help"], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                problems.append(f"README: `{line.strip()}` with --help exited {r.returncode}: {r.stderr.strip()[:200]}")
            checked += 1
if checked == 0:
    problems.append("README: no fer-stream command found in its ```sh blocks")

# 3. Relative links and anchors.
def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))

def anchors(path):
    found, seen, fence = set(), {}, False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6}\s+(.*)", line)):
            s = slug(m.group(1))
            n = seen.get(s, 0); seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
    return found

docs = [os.path.join(root, p) for p in ("README.md", "deploy/README.md", "Models/README.md", "training/README.md")]
docs += sorted(os.path.join(root, "docs", f) for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
for doc in docs:
    if not os.path.exists(doc):
        continue
    rel = os.path.relpath(doc, root)
    text = re.sub(r"^```.*?^```", "", open(doc, encoding="utf-8").read(), flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)  # code spans are not links
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(dest):
            problems.append(f"{rel}: link ({target}): {os.path.relpath(dest, root)} does not exist")
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            problems.append(f"{rel}: link ({target}): no heading '#{anchor}' in {os.path.relpath(dest, root)}")

for p in problems:
    print("check-docs: " + p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"check-docs: {sum(len(v) for v in command_options.values())} options of {len(command_options)} commands documented, "
      f"{checked} README commands parse, the links of {len(docs)} documents resolve", file=sys.stderr)
PY
