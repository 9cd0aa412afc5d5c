"""Offer every lab as a downloadable ``.ipynb`` beside its page.

Labs are stored as jupytext percent scripts (``docs/labs/<name>.py``) so they diff like code;
mkdocs-jupyter executes and renders them. This hook converts each to ``<name>.ipynb`` at
``labs/<name>/<name>.ipynb``, the folder of the rendered page, where the download button in
``overrides/main.html`` points.
"""

from __future__ import annotations

import jupytext
import snippet_runner  # beside this file
from mkdocs.structure.files import File, Files

# mkdocs-jupyter starts the labs' kernels from this process: give them the snippets' numerics.
snippet_runner.fix_numerics()


def on_config(config):
    """Cache executed labs per numerics profile: another profile computes other floats."""
    jupyter = config.plugins["mkdocs-jupyter"].config
    jupyter["cache_dir"] = f"{jupyter['cache_dir']}/{snippet_runner.numerics()[0]}"


def on_files(files: Files, config) -> Files:
    labs = [f for f in files if f.src_uri.startswith("labs/") and f.src_uri.endswith(".py")]
    for lab in labs:
        notebook = jupytext.writes(jupytext.read(lab.abs_src_path), fmt="ipynb")
        name = lab.src_uri.removeprefix("labs/").removesuffix(".py")
        files.append(File.generated(config, f"labs/{name}/{name}.ipynb", content=notebook))
    return files
