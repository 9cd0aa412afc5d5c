"""Build and test timings, page weights, and the budgets they must meet (``make bench``).

Every build is ``python -m mkdocs build --site-dir <temp dir>``, run from the repo root with
NO_MKDOCS_2_WARNING=1 and the config's strict mode; a failed build aborts the benchmark and
shows its log. All times are wall seconds (time.perf_counter), one run each.

  cold build        all caches removed first (the whole .cache dir: figures and notebooks),
                    so every snippet and every lab notebook runs.
  warm build        the same build again with nothing changed: every figure and notebook
                    comes from the cache.
  figures off       FIGURES=off: placeholders instead of figures, notebook cache warm.
                    The cost of the site without any figure work. Measured a second time
                    from an empty .cache, where the labs execute: the cold build's baseline.
  one snippet       rebuild after appending a comment line to the first snippet (sorted
                    snippets/*/*.py): its hash changes, so the hook re-runs that one snippet.
                    The file is then restored byte for byte (and its mtime), and a restore
                    build re-draws the original figure; that one is shown but not budgeted.
  snippets (sum)    every snippet run one after another with the hook's own run_snippet();
                    the sum, and the slowest one. Any failing snippet aborts the benchmark.
  test suite        python -m pytest -q from the repo root, with its last line, after
                    emptying .cache (as on a fresh clone, which is what CI runs).
                    --skip-tests leaves it out.
  pages             for every index.html of the final (normal) build: its HTML size, and
                    that plus every same-site script, stylesheet and image it references
                    (src/href resolved against the page, each file counted once per page;
                    off-site URLs, anchors and files loaded by CSS, e.g. fonts, not counted);
                    and that total gzip-compressed (level 6), as GitHub Pages sends it.

Budgets (exit status 1 if any fails):
  warm  <= 1.2 x figures off                 the figure cache makes a warm build nearly free;
  cold  <= 1.3 x (snippets sum / CPUs + figures off from an empty .cache)
                                             the hook really runs snippets in parallel;
  a chapter page <= 400 KiB and a lab page <= 500 KiB, gzip-compressed (HTML, scripts,
                    stylesheets, images; fonts aside);
  gradient_monitor.py's overhead at k = 10 <= 5 % of a training step, on each of chapter 11's
                    three models (tools/monitor_overhead.py: median CPU time);
  the explorer's median time from a control's change to the painted frame <= 100 ms
                    (tools/explorer_speed.py, in Chromium, on the final build);
  tests <= 120 s, and the suite passes.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hooks"))
from figures import run_snippet  # noqa: E402  (the build's own code)
from snippet_runner import find_snippets  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import explorer_speed  # noqa: E402

TEST_BUDGET_S = 120.0
PAGE_BUDGET_KIB = {"chapter": 400, "lab": 500}  # gzip transfer, fonts excluded
EDIT_LINE = b"# bench.py: a harmless edit to time a one-snippet rebuild\n"


def build(site_dir: Path, figures_off: bool = False) -> float:
    """One strict build into ``site_dir``; its wall time. A failed build aborts the run."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.pop("FIGURES", None)
    if figures_off:
        env["FIGURES"] = "off"
    cmd = [sys.executable, "-m", "mkdocs", "build", "--site-dir", str(site_dir)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(
            f"build failed: {' '.join(cmd)} (exit {proc.returncode})\n{proc.stderr}{proc.stdout}"
        )
    return seconds


def time_snippet_edit(snippet: Path, site_dir: Path) -> tuple[float, float]:
    """Seconds for a build after editing ``snippet``, then for the build after restoring it."""
    original, stat = snippet.read_bytes(), snippet.stat()
    edited = original + (b"" if original.endswith(b"\n") or not original else b"\n") + EDIT_LINE
    try:
        snippet.write_bytes(edited)
        edited_s = build(site_dir)
    finally:
        if snippet.read_bytes() == edited:
            snippet.write_bytes(original)
            os.utime(snippet, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        else:  # someone changed the file meanwhile: keep their version
            print(
                f"WARNING: {snippet} changed during the benchmark; not restored.",
                file=sys.stderr,
            )
    return edited_s, build(site_dir)


def time_snippets(snippets: list[Path]) -> dict[Path, float]:
    """Run each snippet alone, as the hook does; seconds per snippet. Aborts on a failure."""
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, snippet in enumerate(snippets):
            out_dir = Path(tmp) / str(i)
            out_dir.mkdir()
            start = time.perf_counter()
            proc = run_snippet(snippet, out_dir)
            times[snippet] = time.perf_counter() - start
            name = snippet.relative_to(ROOT)
            if proc.returncode != 0:
                sys.exit(f"snippet failed: {name} (exit {proc.returncode})\n{proc.stderr}")
            if not (out_dir / f"{snippet.stem}.svg").exists():
                sys.exit(f"snippet {name} exited 0 but wrote no {snippet.stem}.svg")
    return times


def time_tests() -> tuple[float, int, str]:
    """Seconds, exit status and last output line of ``python -m pytest -q``.

    Caches are emptied first: that is the run CI does on a fresh clone.
    """
    shutil.rmtree(ROOT / ".cache", ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.strip()] or ["(no output)"]
    if proc.returncode != 0:
        print("\n".join(lines[-40:]), proc.stderr, sep="\n", file=sys.stderr)
    return seconds, proc.returncode, lines[-1].strip("= ")


class AssetLinks(HTMLParser):
    """Collects the URLs of the scripts, stylesheets and images an HTML page loads."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        rel = (attrs.get("rel") or "").lower().split()
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and {"stylesheet", "icon"} & set(rel):
            self.urls.append(attrs["href"])


def page_weights(site_dir: Path) -> list[tuple[str, int, int, int]]:
    """(page, HTML bytes, HTML + same-site assets bytes, the same gzip-compressed, as GitHub
    Pages sends them) for every index.html."""
    site = site_dir.resolve()
    rows = []
    for page in sorted(site.rglob("index.html")):
        html = page.read_bytes()
        parser = AssetLinks()
        parser.feed(html.decode("utf-8", errors="replace"))
        assets = set()
        for url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:  # off-site, data:, anchors
                continue
            path = unquote(parts.path)
            base = site if path.startswith("/") else page.parent
            target = (base / path.lstrip("/")).resolve()
            if target.is_file() and target.is_relative_to(site):
                assets.add(target)
            else:
                print(
                    f"WARNING: {page.relative_to(site)} references missing {url}",
                    file=sys.stderr,
                )
        total = len(html) + sum(a.stat().st_size for a in assets)
        files = [html, *(a.read_bytes() for a in assets)]
        gzipped = sum(len(gzip.compress(data, compresslevel=6)) for data in files)
        rows.append((str(page.relative_to(site)), len(html), total, gzipped))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tests", action="store_true", help="don't time the test suite")
    args = parser.parse_args()

    snippets = find_snippets(ROOT)
    cpus = os.cpu_count() or 1
    times: list[tuple[str, float, str]] = []  # (what, seconds, note)

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        site_dir = Path(tmp) / "site"
        shutil.rmtree(ROOT / ".cache", ignore_errors=True)
        off_cold = build(site_dir, figures_off=True)  # runs the labs, not the snippets
        shutil.rmtree(ROOT / ".cache", ignore_errors=True)
        cold = build(site_dir)
        warm = build(site_dir)
        off = build(site_dir, figures_off=True)
        times += [
            ("cold build (empty .cache)", cold, ""),
            ("warm build (nothing changed)", warm, ""),
            ("build with FIGURES=off", off, "labs cached"),
            ("build with FIGURES=off, empty .cache", off_cold, "labs executed"),
        ]
        if snippets:
            edited, restored = time_snippet_edit(snippets[0], site_dir)
            times += [
                (
                    "rebuild after editing one snippet",
                    edited,
                    str(snippets[0].relative_to(ROOT)),
                ),
                ("  rebuild after restoring it", restored, "not budgeted"),
            ]
        else:
            build(site_dir)  # the site measured below must have real figures, not placeholders
        pages = page_weights(site_dir)
        explorer_ms = explorer_speed.main(str(site_dir))  # a median, in milliseconds

    snippet_times = time_snippets(snippets)
    snippet_sum = sum(snippet_times.values())
    times.append(
        (
            "snippets one after another (sum)",
            snippet_sum,
            f"{len(snippet_times)} snippets, {cpus} CPUs",
        )
    )
    if snippet_times:
        slowest = max(snippet_times, key=snippet_times.get)
        times.append(
            (
                "  slowest snippet",
                snippet_times[slowest],
                str(slowest.relative_to(ROOT)),
            )
        )
    if not args.skip_tests:
        tests, tests_rc, tests_last = time_tests()
        times.append(("test suite (pytest -q, empty .cache)", tests, tests_last))

    width = max(len(what) for what, _, _ in times)
    print(f"{'timing':<{width}}  {'seconds':>8}  note")
    for what, seconds, note in times:
        print(f"{what:<{width}}  {seconds:8.2f}  {note}")

    width = max([len("page")] + [len(name) for name, *_ in pages])
    print(f"\n{'page':<{width}}  {'HTML KiB':>9}  {'total KiB':>9}  {'gzip KiB':>9}")
    for name, html_bytes, total_bytes, gzip_bytes in pages:
        print(
            f"{name:<{width}}  {html_bytes / 1024:9.1f}  {total_bytes / 1024:9.1f}"
            f"  {gzip_bytes / 1024:9.1f}"
        )

    budgets = [  # (budget, actual, limit)
        ("warm <= 1.2 x figures-off", warm, 1.2 * off),
        (
            "cold <= 1.3 x (snippets / CPUs + figures-off cold)",
            cold,
            1.3 * (snippet_sum / cpus + off_cold),
        ),
    ]
    for name, _, _, gzip_bytes in pages:  # what a reader downloads, fonts aside
        kind = "lab" if name.startswith("labs/") else "chapter" if name[:2].isdigit() else None
        if kind:
            limit = PAGE_BUDGET_KIB[kind]
            budgets.append((f"{name} gzip <= {limit} KiB", gzip_bytes / 1024, limit))
    print("\ngradient_monitor's overhead at k = 10 (chapter 11), median CPU time per step:")
    import monitor_overhead  # beside this file; imports torch, with the build's numerics set

    for model, r in monitor_overhead.main().items():
        extra = 100 * r["every 10 steps, extra"]
        budgets.append((f"monitor overhead, {model} <= 5 %", extra, 100 * monitor_overhead.BUDGET))
    limit = explorer_speed.UPDATE_MS
    budgets.append((f"explorer, change to painted frame <= {limit} ms", explorer_ms, limit))
    if not args.skip_tests:
        budgets.append((f"tests <= {TEST_BUDGET_S:.0f} s", tests, TEST_BUDGET_S))
    width = max(len(name) for name, _, _ in budgets)
    print(f"\n{'budget':<{width}}  {'actual':>8}  {'limit':>8}  result")
    failed = 0
    for name, actual, limit in budgets:
        ok = actual <= limit
        failed += not ok
        print(f"{name:<{width}}  {actual:8.2f}  {limit:8.2f}  {'PASS' if ok else 'FAIL'}")
    if not args.skip_tests:
        failed += tests_rc != 0
        print(
            f"{'tests pass':<{width}}  {'':>8}  {'':>8}  "
            f"{'PASS' if tests_rc == 0 else f'FAIL (exit {tests_rc})'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
