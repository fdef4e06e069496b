"""The README and docs/: every relative link reaches a file and, with an anchor, a heading of it;
the documents speak of the project by dates and commits, not by who worked when."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(markdown):
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#+ (.*)", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def relative_links(path):
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if not re.match(r"[a-z]+:", target):
            yield target


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_heading(document):
    broken = []
    for target in relative_links(document):
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(target)
        elif anchor and anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
            broken.append(target)
    assert not broken, f"{document.name}: broken links {broken}"


def test_anchors_follow_github_rules():
    assert heading_anchors("## Speed and memory (2 CPU cores, AVX-512, no GPU)\n# Train on your own pictures") == {
        "speed-and-memory-2-cpu-cores-avx-512-no-gpu", "train-on-your-own-pictures",
    }


def test_documents_and_code_never_name_sessions_or_issue_numbers():
    files = DOCUMENTS + [
        path for folder in ("keras_dalle", "export", "serving", "bench", "tests")
        for path in (ROOT / folder).rglob("*") if path.suffix in {".py", ".md", ".txt", ".kt", ".js", ".html"}
    ]
    words = re.compile(r"\bsessions?\b(?! *=)|\bissue \d+|\bissue's\b", re.IGNORECASE)
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if 'scope="session"' in line or path.name == "test_docs.py":
                continue
            if words.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:80]}")
    assert not found, "\n".join(found)
