"""No Python example on a page escapes testing, or the width of the page.

pytest-codeblocks runs a fence only if its info string is exactly `python` (or sh/bash);
` ```py `, ` ```python title="x" ` and the like are skipped without a word. A Python fence
must either be collected, or include a section of a snippet (which the snippet tests run) or a
tool (which its chapter's test runs). A whole snippet is included as ` ```text `: highlighted,
it would weigh a thousand elements or more on the page (see the authoring guide).
"""

import re

import pytest
from conftest import ROOT
from pytest_codeblocks.main import extract_from_file

PAGES = sorted((ROOT / "docs").rglob("*.md"))
PYTHON_LIKE = re.compile(r"^(py|python|python3|pycon|ipython)\b")
INCLUDE = re.compile(r'^--8<-- "((?:snippets|tools)/[^":]+\.py)(:\w+)?"$')


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_fence_is_run(page):
    for block in extract_from_file(page):
        syntax = block.syntax.strip()
        if syntax == "python" or not PYTHON_LIKE.match(syntax):
            continue
        lines = block.code.strip().splitlines()
        includes = [INCLUDE.match(line.strip()) for line in lines]
        where = f"{page.relative_to(ROOT)}:{block.lineno + 1}"
        assert lines and all(includes), (
            f"{where}: fence '{syntax}' is not run by pytest-codeblocks; use exactly ```python, "
            "or include a snippet with --8<--"
        )
        for match in includes:
            assert (ROOT / match.group(1)).exists(), f"{where}: no such snippet {match.group(1)}"
            assert match.group(1).startswith("tools/") or match.group(2), (
                f"{where}: a whole snippet goes in a ```text fence, not '{syntax}'"
            )


# A code block on a chapter page shows 80 characters before it scrolls sideways; snippets
# are held to the same width by snippets/ruff.toml.
CODE_WIDTH = 80


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_python_fences_fit_the_page(page):
    too_wide = [
        f"{page.relative_to(ROOT)}:{block.lineno + 1}: {line}"
        for block in extract_from_file(page)
        if PYTHON_LIKE.match(block.syntax.strip())
        for line in block.code.splitlines()
        if len(line) > CODE_WIDTH and not INCLUDE.match(line.strip())
    ]
    assert not too_wide, "\n".join(too_wide)
