"""Shared test fixtures: load snippets as modules, run them once, read the pages they back."""

import contextlib
import difflib
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hooks"))  # the build's own code, imported as mkdocs imports it

# The build's numerics (one thread, fixed kernels), set before torch loads and inherited by
# every build, snippet and notebook kernel the tests start: in-process and built figures come
# from the same floats. One thread also matters for speed: xdist runs two workers on two cores,
# and torch's thread pools competing for them slowed runs by up to 50x.
from snippet_runner import fix_numerics, numerics  # noqa: E402

fix_numerics()
PROFILE = numerics()[0]

import pytest  # noqa: E402
from figures import find_snippets  # noqa: E402
from filelock import FileLock  # noqa: E402

SNIPPETS = find_snippets(ROOT)
TEST_REPO_URL = "https://github.com/example/vanishing-gradients"  # unless REPO_URL is set
SNIPPET_IDS = [str(s.relative_to(ROOT)) for s in SNIPPETS]


def load_snippet(path: Path):
    name = f"snippet_{path.parent.name}_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def once(tmp_path_factory, worker_id):
    """``once(name, make)``: run ``make(folder)`` once per test session, for all xdist workers.

    The first worker to ask does the work in a folder the workers share; the others wait on
    the lock and reuse it (pytest-xdist's recipe for session fixtures that run only once).
    """
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent

    def run(name: str, make) -> Path:
        folder = shared / name
        with FileLock(f"{folder}.lock"):
            if not (folder / ".done").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                (folder / ".done").touch()
        return folder

    return run


class SnippetRun:
    """A snippet's main(), run in-process: the numbers it returns and prints, its figure."""

    def __init__(self, folder: Path, path: Path):
        self.figure = folder / f"{path.stem}.svg"
        self.results = pickle.loads((folder / "results.pickle").read_bytes())
        self.stdout = (folder / "stdout.txt").read_text()

    @staticmethod
    def make(path: Path, folder: Path):
        with contextlib.redirect_stdout(io.StringIO()) as stdout:
            results = load_snippet(path).main(folder)
        (folder / "results.pickle").write_bytes(pickle.dumps(results))
        (folder / "stdout.txt").write_text(stdout.getvalue())


@pytest.fixture(scope="session")
def run_snippet_once(once):
    def run(relpath: str) -> SnippetRun:
        path = ROOT / relpath
        folder = once(relpath.replace("/", "--"), lambda f: SnippetRun.make(path, f))
        return SnippetRun(folder, path)

    return run


@pytest.fixture(scope="module")
def run(request, run_snippet_once):
    """``run(name)``: the numbers of snippets/<CHAPTER>/<name>.py (CHAPTER: the test module's)."""
    chapter = request.module.CHAPTER
    return lambda name: run_snippet_once(f"snippets/{chapter}/{name}.py").results


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    env = {"REPO_URL": TEST_REPO_URL, **os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("FIGURES", None)
    cmd = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(site)]
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)


def build_site(folder: Path):
    proc = mkdocs_build(ROOT, folder)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def site(once):
    """The strict build of the real site, once per session (caches in .cache are reused)."""
    return once("site", build_site)


class Page(str):
    """A page's Markdown source, which knows its path (for failure messages)."""

    path: Path


def page(chapter: str) -> Page:
    path = ROOT / "docs" / chapter / "index.md"
    text = Page(path.read_text(encoding="utf-8"))
    text.path = path.relative_to(ROOT)
    return text


def latex_sci(x: float, digits: int = 3) -> str:
    """x as the pages write it in math: 7.45 \\times 10^{-9}."""
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"{mantissa} \times 10^{{{int(exponent)}}}"


def closest_line(text: str, claim: str) -> str:
    """The line of ``text`` most like ``claim``: where the page states its own value."""

    def shared(line: str) -> int:  # characters of the claim found, in order, in the line
        matcher = difflib.SequenceMatcher(None, line, claim, autojunk=False)
        return sum(block.size for block in matcher.get_matching_blocks())

    i, line = max(enumerate(text.splitlines(), 1), key=lambda il: shared(il[1]))
    return f"line {i}: {line.strip()}"


def flat(text: str) -> str:
    """Runs of whitespace as one space: a claim may wrap, or sit indented in a fold."""
    return " ".join(text.split())


def assert_page_states(text: str, *claims: str):
    """Every claim (a number formatted as the page writes it) appears on the page, line breaks
    and indentation aside.

    A failure names the page, the numerics profile, and for each missing claim the value this
    run computed beside the line of the page that most likely states the old one.
    """
    page_text = flat(text)
    missing = [c for c in claims if flat(c) not in page_text]
    where = getattr(text, "path", "the page")
    report = "".join(f"\n  computed: {c!r}\n  page, {closest_line(text, c)}" for c in missing)
    assert not missing, f"{where} does not state what {PROFILE} numerics computed:{report}"
