"""Documentation checks: relative links in docs/*.md and README.md point at existing files
(and existing headings, for ``file.md#anchor`` links), and the ``>>>`` examples in the user
guide pages give the outputs they show."""

from __future__ import annotations

import doctest
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def _anchors(path: pathlib.Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def _links(path: pathlib.Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code is not prose
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_index_lists_every_page():
    index = (ROOT / "docs" / "index.md").read_text()
    missing = [p.name for p in PAGES if p.parent.name == "docs" and p.name != "index.md"
               and f"({p.name})" not in index]
    assert not missing, f"docs/index.md does not link {missing}"


@pytest.mark.parametrize("name", ["getting_started.md", "formats.md"])
def test_examples_in_docs(name):
    pytest.importorskip("minifloat")
    text = (ROOT / "docs" / name).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    source = "\n".join(b for b in blocks if ">>>" in b)
    assert source, f"{name} has no >>> examples"
    parser = doctest.DocTestParser()
    test = parser.get_doctest(source, {}, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) in {name} failed (run above)"
