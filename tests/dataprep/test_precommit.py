"""The pre-commit hook, through the real ``pre-commit`` tool: it installs this package
(the light core) from a commit of this checkout, blocks a commit that adds a broken
dataset with its line shown, and lets a good one through."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# What `pip install .` needs from the checkout (pyproject lists these packages).
PACKAGE = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "dataprep", "schemas", "train")

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
BAD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def commit_of_this_checkout(dest: Path) -> str:
    """This working tree (committed or not) as a commit of a fresh repository: what
    pre-commit clones and installs, so the test sees the code as it is now."""
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in PACKAGE:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "hook repo")):
        assert git(dest, *args).returncode == 0
    return git(dest, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key, value in {
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
    }.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")


@pytest.mark.slow
def test_hook_blocks_a_bad_dataset_and_passes_a_good_one(tmp_path, env):
    pytest.importorskip("pre_commit")
    rev = commit_of_this_checkout(tmp_path / "hooks")
    project = tmp_path / "project"
    project.mkdir()
    assert git(project, "init", "-q").returncode == 0
    config = {
        "repos": [
            {"repo": str(tmp_path / "hooks"), "rev": rev, "hooks": [{"id": "dataprep-validate"}]}
        ]
    }
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    install = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=project, capture_output=True, text=True
    )
    assert install.returncode == 0, install.stdout + install.stderr

    data = project / "data" / "train.jsonl"
    data.parent.mkdir()
    data.write_bytes(orjson.dumps(GOOD) + b"\n" + orjson.dumps(BAD) + b"\n")
    git(project, "add", "-A")
    blocked = git(project, "commit", "-m", "add data")
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0, output
    assert "data/train.jsonl:2: messages[1].content: content is empty [empty-content]" in output
    assert git(project, "rev-parse", "--verify", "HEAD").returncode != 0  # nothing committed

    data.write_bytes(orjson.dumps(GOOD) + b"\n")
    git(project, "add", "-A")
    passed = git(project, "commit", "-m", "add data")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "dataprep validate" in passed.stdout + passed.stderr
    # The hook's environment holds the light core only.
    envs = list(Path(os.environ["PRE_COMMIT_HOME"]).glob("repo*/py_env-*"))
    assert envs, "pre-commit made no python environment"
    site = " ".join(str(p) for p in envs[0].glob("lib/python*/site-packages/*"))
    assert "dataprep" in site and "torch" not in site and "transformers" not in site
