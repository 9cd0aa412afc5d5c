"""Link every page to the repository: REPO_URL (the workflow sets it from its own context), or
else this clone's ``origin`` remote; with neither, pages carry no repository link."""

from __future__ import annotations

import os
import re
import subprocess


def origin_url(folder: str) -> str | None:
    proc = subprocess.run(
        ["git", "remote", "get-url", "origin"], cwd=folder, capture_output=True, text=True
    )
    url = proc.stdout.strip()
    if proc.returncode or not url:
        return None
    # git@github.com:owner/repo.git -> https://github.com/owner/repo
    url = re.sub(r"^git@([^:]+):", r"https://\1/", url)
    return url.removesuffix(".git")


def on_config(config):
    url = os.environ.get("REPO_URL") or origin_url(os.path.dirname(config.config_file_path))
    if url:
        config.repo_url = url.rstrip("/")
        config.repo_name = "/".join(url.rstrip("/").split("/")[-2:])
        config.edit_uri = "edit/main/docs/"
    return config
