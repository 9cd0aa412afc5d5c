"""Shared test fixtures: load snippets as modules, run them once, read the pages they back."""

import difflib
import importlib.util
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hooks"))  # the build's own code, imported as mkdocs imports it
sys.path.insert(0, str(ROOT / "tools"))  # the benchmark's, which some tests share

# The build's numerics (one thread, fixed kernels), set before torch loads and inherited by
# every build, snippet and notebook kernel the tests start: the tests' runs and the build's
# compute the same floats. One thread also matters for speed: xdist runs two workers on two cores,
# and torch's thread pools competing for them slowed runs by up to 50x.
import snippet_runner  # noqa: E402

snippet_runner.fix_numerics()
PROFILE = snippet_runner.numerics()[0]

import jupytext  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from notebooks import TEST_TAG, executed  # noqa: E402

SNIPPETS = snippet_runner.find_snippets(ROOT)
TEST_REPO_URL = "https://github.com/example/vanishing-gradients"  # unless REPO_URL is set
SNIPPET_IDS = [str(s.relative_to(ROOT)) for s in SNIPPETS]


def load_snippet(path: Path):
    if str(path.parent) not in sys.path:  # as `python snippet.py` does: its modules beside it
        sys.path.insert(0, str(path.parent))
    name = f"snippet_{path.parent.name}_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snippet_module(chapter: str, name: str):
    """snippets/<chapter>/<name>.py as a module: its functions, to call with other arguments."""
    return load_snippet(ROOT / "snippets" / chapter / f"{name}.py")


def snippet_defaults(chapter: str, name: str, function: str) -> dict:
    """The default arguments of a snippet's function: the settings its page states."""
    parameters = inspect.signature(getattr(snippet_module(chapter, name), function)).parameters
    return {p.name: p.default for p in parameters.values()}


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
    """What running a snippet gave: the numbers main() returned, what it printed, its figure."""

    def __init__(self, root: Path, path: Path):
        self.figure, record = snippet_runner.cached(root, path)
        record = snippet_runner.record(record)
        self.results, self.stdout = record["results"], record["stdout"]


@pytest.fixture(scope="session")
def snippet_pool():
    """Fresh forks of a preloaded server, as the build runs snippets (one per xdist worker)."""
    with snippet_runner.pool(1) as pool:
        yield pool


@pytest.fixture(scope="session")
def command(snippet_pool):
    """``command(snippet, *args, cwd=folder)``: ``python snippet *args`` run in ``folder``, in a
    fork of the preloaded server (a CompletedProcess: exit status, stdout, stderr)."""

    def run(snippet: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        work = snippet_pool.submit(snippet_runner.command, str(snippet), list(args), str(cwd))
        return work.result()

    return run


@pytest.fixture(scope="session")
def run_snippet_once(snippet_pool):
    """``run_snippet_once(relpath)``: the snippet's run, from the cache the build shares, or run
    now and cached (whichever of build and tests asks first runs it; the other waits)."""

    def run(relpath: str) -> SnippetRun:
        path = ROOT / relpath
        error = snippet_pool.submit(snippet_runner.run_cached, ROOT, path).result()
        assert error is None, error
        return SnippetRun(ROOT, path)

    return run


@pytest.fixture(scope="module")
def run(request, run_snippet_once):
    """``run(name)``: the numbers of snippets/<CHAPTER>/<name>.py (CHAPTER: the test module's)."""
    chapter = request.module.CHAPTER
    return lambda name: run_snippet_once(f"snippets/{chapter}/{name}.py").results


LAB_NUMBERS = "LAB-NUMBERS "  # how a lab's hidden test cell prefixes the JSON it prints


class Lab:
    """A lab's Markdown (whitespace collapsed) and the numbers its test cell printed, from the
    run the build caches (run now if the build has not run it yet)."""

    def __init__(self, path: Path):
        self.name = path.stem
        cells = jupytext.read(path).cells
        self.markdown = flat(" ".join(c.source for c in cells if c.cell_type == "markdown"))
        (notebook,) = executed(ROOT, path)
        run = nbformat.read(notebook, 4)
        (test_cell,) = [c for c in run.cells if TEST_TAG in c.metadata.get("tags", [])]
        stdout = "".join(o.text for o in test_cell.outputs if o.get("name") == "stdout")
        line = next(ln for ln in stdout.splitlines() if ln.startswith(LAB_NUMBERS))
        self.numbers = json.loads(line[len(LAB_NUMBERS) :])

    def states(self, *claims: str):
        missing = [c for c in claims if flat(c) not in self.markdown]
        assert not missing, f"docs/labs/{self.name}.py does not state: {missing}"


@pytest.fixture(scope="session")
def labs():
    """``labs[name]``: the Lab docs/labs/<name>.py."""

    class Labs:
        def __getitem__(self, name: str) -> Lab:
            return Lab(ROOT / "docs" / "labs" / f"{name}.py")

    return Labs()


def first_below(losses, level):
    """The first step whose loss is below level (len(losses) if none)."""
    return next((i for i, v in enumerate(losses) if v < level), len(losses))


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
