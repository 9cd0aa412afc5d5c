"""Every snippet has the same anatomy, is shown on its page, and fails cleanly."""

import inspect

import pytest
from conftest import ROOT, SNIPPET_IDS, SNIPPETS, load_snippet
from figures import run_snippet

ALLOWED_IMPORTS = {"math", "sys", "pathlib", "torch", "numpy", "matplotlib"}
REFERENCE_SAVE = inspect.getsource(load_snippet(SNIPPETS[0]).save)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_snippet_has_the_standard_anatomy(snippet):
    source = snippet.read_text(encoding="utf-8")
    module = load_snippet(snippet)
    assert module.__doc__ and f"Run: python {snippet.relative_to(ROOT)}" in module.__doc__
    assert source.count("# --8<-- [start:core]") == 1 and source.count("# --8<-- [end:core]") == 1
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= ALLOWED_IMPORTS, imports
    # one save() for all: a copied snippet stays self-contained, and all behave the same
    assert inspect.getsource(module.save) == REFERENCE_SAVE


def test_unwritable_output_folder_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_snippet(
        ROOT / "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py",
        blocker / "figures",
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: cannot write"), (
        proc.stderr
    )


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_snippet_is_shown_on_its_chapter_page(snippet):
    chapter = ROOT / "docs" / snippet.parent.name / "index.md"
    text = chapter.read_text(encoding="utf-8")
    rel = snippet.relative_to(ROOT)
    assert f'--8<-- "{rel}:core"' in text, f"{chapter} does not include {rel}"
    assert f"]({snippet.stem}.svg)" in text, f"{chapter} does not show {snippet.stem}.svg"
    assert f"]({snippet.name}){{ download }}" in text, f"{chapter} has no download link"
