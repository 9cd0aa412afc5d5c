"""Shared test fixtures: load snippets as modules, run them once, read the pages they back."""

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

# One thread per process, set before torch loads and inherited by every build, snippet and
# notebook kernel the tests start: xdist runs two workers on two cores, and torch's thread
# pools competing for them slowed runs by up to 50x. The build runs snippets the same way
# (hooks/figures.py), so in-process and built figures come from the same floats.
os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for hooks.figures, the code the build runs snippets with

from hooks.figures import find_snippets  # noqa: E402

SNIPPETS = find_snippets(ROOT)
SNIPPET_IDS = [str(s.relative_to(ROOT)) for s in SNIPPETS]


def load_snippet(path: Path):
    name = f"snippet_{path.parent.name}_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SnippetRun:
    """A snippet's main() run once per test session: its returned numbers and its figure."""

    def __init__(self, path: Path, out_dir: Path):
        self.module = load_snippet(path)
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            self.results = self.module.main(out_dir)
        self.stdout = stdout.getvalue()
        self.figure = out_dir / f"{path.stem}.svg"


@pytest.fixture(scope="session")
def run_snippet_once(tmp_path_factory):
    runs = {}

    def run(relpath: str) -> SnippetRun:
        if relpath not in runs:
            runs[relpath] = SnippetRun(ROOT / relpath, tmp_path_factory.mktemp("figures"))
        return runs[relpath]

    return run


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("FIGURES", None)
    cmd = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(site)]
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The strict build of the real site (into a temp dir; caches in .cache are reused)."""
    out = tmp_path_factory.mktemp("site")
    proc = mkdocs_build(ROOT, out)
    assert proc.returncode == 0, proc.stderr
    return out


def page(chapter: str) -> str:
    return (ROOT / "docs" / chapter / "index.md").read_text(encoding="utf-8")


def latex_sci(x: float, digits: int = 3) -> str:
    """x as the pages write it in math: 7.45 \\times 10^{-9}."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def assert_page_states(text: str, *claims: str):
    """Every claim (a number formatted as the page writes it) appears verbatim on the page."""
    missing = [c for c in claims if c not in text]
    assert not missing, f"the page does not state the computed values {missing}"
