"""Every ```python block of README.md runs exactly as written (in order, in a scratch directory)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(BLOCKS[index], f"README.md block {index + 1}", "exec"), {"__name__": "readme"})


def test_readme_has_blocks():
    assert len(BLOCKS) >= 2


ROOT = README.parent
DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "examples" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target) or [text](target "title")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-',
    '-1', '-2', ... after repeats; ``#`` lines inside fenced code are comments, not headings."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", prose, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        repeat = 0
        while (slug if not repeat else f"{slug}-{repeat}") in anchors:
            repeat += 1
        anchors.add(slug if not repeat else f"{slug}-{repeat}")
    return anchors


def _broken_links(doc: Path) -> list[str]:
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: the network is not for tests
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target} (no file {file})")
        elif anchor and anchor not in _anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{anchor} in {file.name})")
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    assert _broken_links(doc) == []


def test_broken_links_are_found(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Top part\n## A: b, `c`'s\n## A: b, `c`'s\n```bash\n# a comment\n```\n"
        '[a](missing.md) [b](#top-part) [c](#nowhere) [d](https://x.org) [e](#a-b-cs "title")\n'
        "[f](#a-b-cs-1) [g](#a-b-cs-2) [h](#a-comment)\n"
    )
    assert _broken_links(doc) == [
        f"missing.md (no file {tmp_path / 'missing.md'})",
        "#nowhere (no heading #nowhere in doc.md)",
        "#a-b-cs-2 (no heading #a-b-cs-2 in doc.md)",
        "#a-comment (no heading #a-comment in doc.md)",
    ]
