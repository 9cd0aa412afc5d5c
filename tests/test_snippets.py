"""Every snippet has the same anatomy, is shown on its page, and fails cleanly."""

import ast
import subprocess
import sys

import pytest
from conftest import ROOT, SNIPPET_IDS, SNIPPETS, load_snippet
from snippet_runner import MODULES

# the standard library's few a snippet needs, the three dependencies, and the modules published
# beside the snippets (snippet_runner.MODULES), which a reader downloads with them
ALLOWED_IMPORTS = {"argparse", "math", "os", "sys", "pathlib", "warnings", "torch", "numpy"}
ALLOWED_IMPORTS |= {"matplotlib"} | {name.removesuffix(".py") for name in MODULES}
SHARED = "\n# Shared by every snippet"


def shared_part(snippet) -> str:
    """The snippet's tail from the SHARED comment on: version check, style, command line."""
    source = snippet.read_text(encoding="utf-8")
    assert source.count(SHARED) == 1, f"{snippet} has no single shared part"
    return source[source.index(SHARED) :]


REFERENCE_SHARED = shared_part(SNIPPETS[0])
SCALAR_EXAMPLES = ROOT / "snippets/01-why-gradients-vanish-or-explode/scalar_examples.py"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_snippet_has_the_standard_anatomy(snippet):
    source = snippet.read_text(encoding="utf-8")
    module = load_snippet(snippet)
    assert module.__doc__ and f"Run: python {snippet.relative_to(ROOT)}" in module.__doc__
    assert source.count("# --8<-- [start:core]") == 1 and source.count("# --8<-- [end:core]") == 1
    imports = {
        name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imports <= ALLOWED_IMPORTS, imports
    # one shared part for all: a copied snippet stays self-contained, and all behave the same
    assert shared_part(snippet) == REFERENCE_SHARED
    assert callable(module.main) and callable(module.plot)


CORE_LINES = 15  # the page shows the lines that carry the idea; the whole file is one click away


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_the_lines_shown_on_the_page_are_few(snippet):
    source = snippet.read_text(encoding="utf-8")
    core = source.split("# --8<-- [start:core]")[1].split("# --8<-- [end:core]")[0]
    lines = [line for line in core.splitlines() if line.strip()]
    assert len(lines) <= CORE_LINES, f"{len(lines)} lines between the core markers"


def one_line_error(proc) -> str:
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


# The command line's answers to wrong or no arguments come from the shared part, the same in
# every snippet: checked on one, in forks of the preloaded server; the last test runs it as a
# reader does, in a fresh interpreter.
def test_help_describes_the_snippet_and_creates_nothing(command, tmp_path):
    proc = command(SCALAR_EXAMPLES, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "OUT_DIR" in proc.stdout, proc.stderr
    assert "The two textbook examples" in proc.stdout
    assert not any(tmp_path.iterdir())


def test_output_folder_is_checked_before_any_work(command, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = command(SCALAR_EXAMPLES, str(blocker), cwd=tmp_path)
    assert one_line_error(proc) == f"error: {blocker} is a file, not a folder\n"
    assert proc.stdout == ""  # refused before the experiment, which prints its numbers
    proc = command(SCALAR_EXAMPLES, str(blocker / "figures"), cwd=tmp_path)
    assert one_line_error(proc).startswith(f"error: cannot create {blocker / 'figures'}: ")
    assert proc.stdout == ""


def test_default_output_folder_is_the_current_one_and_the_path_is_printed(tmp_path):
    proc = subprocess.run(
        [sys.executable, SCALAR_EXAMPLES], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "scalar_examples.svg").exists()
    assert proc.stdout.rstrip().endswith("wrote scalar_examples.svg")


@pytest.mark.parametrize("snippet", SNIPPETS, ids=SNIPPET_IDS)
def test_snippet_is_shown_on_its_chapter_page(snippet):
    chapter = ROOT / "docs" / snippet.parent.name / "index.md"
    text = chapter.read_text(encoding="utf-8")
    rel = snippet.relative_to(ROOT)
    assert f'--8<-- "{rel}:core"' in text, f"{chapter} does not include {rel}"
    assert f"]({snippet.stem}.svg)" in text, f"{chapter} does not show {snippet.stem}.svg"
    assert f"]({snippet.name}){{ download }}" in text, f"{chapter} has no download link"
    whole = f'--8<-- "{rel}"'  # the whole file, in a fold after the core
    assert whole in text, f"{chapter} does not offer the whole of {rel}"
