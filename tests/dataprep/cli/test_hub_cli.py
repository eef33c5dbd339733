"""Hub ids in every command that reads data, offline: a dataset in the Hugging Face cache
(filled by huggingface_hub's own code through the fake Hub, see ``hub_cache``) is read as
local files are; one that is not cached is a usage error (exit 2; for ``recipe`` a failed
source, exit 1). ``prepare`` records where each input came from, and caches by commit."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from hub_cache import fill_cache, write_repo

SHA = "0123456789abcdef0123456789abcdef01234567"
SHA2 = "fedcba9876543210fedcba9876543210fedcba98"


def _chat(i: int, answer: str = "Yo") -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"Hi {i}"},
            {"role": "assistant", "content": answer},
        ]
    }


REPOS = {
    "chat": {
        "train.jsonl": [_chat(i) for i in range(3)],
        # line 2: an empty answer, which validate reports and prepare rejects
        "test.jsonl": [_chat(0), _chat(1, answer="")],
    },
    "sharded": {
        "data/train-00000-of-00002.jsonl": [_chat(0)],
        "data/train-00001-of-00002.jsonl": [_chat(1)],
    },
}
CALLS = [["org/chat", {}], ["org/chat", {"split": "test"}], ["org/sharded", {}]]


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("repos")
    repos = {f"org/{name}": write_repo(base / name, files) for name, files in REPOS.items()}
    cache_dir = str(tmp_path_factory.mktemp("hub-cache"))
    answers, _ = fill_cache(repos, SHA, CALLS, cache_dir)
    assert all(a.get("sha") == SHA for a in answers), answers
    return cache_dir


def _offline(monkeypatch, cache_dir: str) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache_dir)


@pytest.fixture
def offline(hub_cache, monkeypatch) -> str:
    """Offline, with the filled cache as huggingface_hub's cache; the cache folder."""
    _offline(monkeypatch, hub_cache)
    return hub_cache


def cached(cache_dir: str, repo: str, name: str, sha: str = SHA) -> str:
    return os.path.join(cache_dir, f"datasets--org--{repo}", "snapshots", sha, *name.split("/"))


def _prepare(tok_dir, out, *inputs):
    return ["prepare", *inputs, "--tokenizer", tok_dir, "--max-length", "64", "-o", str(out)]


# --- a cached dataset works in every command ---------------------------------------------


def test_detect_reads_a_cached_hub_dataset(offline, dataprep_cli):
    r = dataprep_cli("detect", "org/chat")
    assert r.code == 0, r.out + r.err
    assert r.out.startswith(f"{cached(offline, 'chat', 'train.jsonl')}: messages")
    snapshot = os.path.dirname(cached(offline, "chat", "train.jsonl"))
    assert r.err == (
        f"note: org/chat@{SHA[:7]} (split train): 1 file in the Hugging Face cache, {snapshot}\n"
    )


@pytest.mark.parametrize(
    "args", [["org/chat", "--split", "test"], [f"hf://datasets/org/chat@{SHA}/test.jsonl"]]
)
def test_validate_problems_keep_the_cached_file_and_line(offline, dataprep_cli, args):
    r = dataprep_cli("validate", *args)
    assert r.code == 1, r.out + r.err
    where = cached(offline, "chat", "test.jsonl")
    assert r.out.splitlines()[0] == (
        f"{where}:2: messages[1].content: content is empty [empty-content]"
    )


def test_convert_writes_a_cached_hub_dataset(offline, dataprep_cli, tmp_path):
    out = tmp_path / "out.jsonl"
    r = dataprep_cli("convert", "org/chat", "--to", "sharegpt", "-o", str(out))
    assert r.code == 0, r.out + r.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["conversations"][0]["value"] for row in rows] == ["Hi 0", "Hi 1", "Hi 2"]


def test_stats_counts_a_cached_hub_dataset(offline, dataprep_cli):
    r = dataprep_cli("stats", "org/chat", "--json")
    assert r.code == 0, r.out + r.err
    got = json.loads(r.out)
    assert (got["source"], got["rows"], got["format"]) == (
        cached(offline, "chat", "train.jsonl"),
        3,
        "messages",
    )


@pytest.mark.parametrize("command", [["convert", "--to", "sharegpt"], ["stats"]])
def test_a_split_of_several_files_is_refused_by_one_file_commands(offline, dataprep_cli, command):
    r = dataprep_cli(command[0], "org/sharded", *command[1:])
    assert r.code == 2, r.out + r.err
    assert "org/sharded: this split is 2 files and this command reads one" in r.err
    assert f"hf://datasets/org/sharded@{SHA}/data/train-00001-of-00002.jsonl" in r.err


def test_detect_reads_every_file_of_a_split(offline, dataprep_cli):
    r = dataprep_cli("detect", "org/sharded", "--json")
    assert r.code == 0, r.out + r.err
    sources = [f["source"] for f in json.loads(r.out)["files"]]
    assert sources == [
        cached(offline, "sharded", f"data/train-0000{i}-of-00002.jsonl") for i in range(2)
    ]


def test_recipe_checks_a_cached_hub_source(offline, dataprep_cli, tmp_path):
    (tmp_path / "mix.yaml").write_text("sources:\n  - hub: org/chat\n")
    r = dataprep_cli("recipe", str(tmp_path / "mix.yaml"))
    assert r.code == 0, r.out + r.err
    assert "source 0: Hub org/chat\n" in r.out
    assert "check: ok, the first 3 rows read as messages" in r.out


# --- prepare: the manifest, and the cache by commit ----------------------------------------


def test_prepare_records_the_hub_source_of_each_input(offline, dataprep_cli, tok_dir, tmp_path):
    out = tmp_path / "out"
    r = dataprep_cli(*_prepare(tok_dir, out, "org/chat", "--split", "test"))
    assert r.code == 0, r.out + r.err
    assert f"from the Hub: org/chat@{SHA[:7]} (split test), 1 file" in r.out
    manifest = json.loads((out / "dataprep.json").read_text())
    (item,) = manifest["inputs"]
    assert item["path"] == f"hf://datasets/org/chat@{SHA}/test.jsonl"
    assert item["hub"] == {
        "repo_id": "org/chat",
        "revision": SHA,
        "subset": None,
        "split": "test",
        "path": "test.jsonl",
    }
    # hashed like a local file: the sha256 of the cached file's bytes
    import hashlib

    with open(cached(offline, "chat", "test.jsonl"), "rb") as f:
        assert item["sha256"] == hashlib.sha256(f.read()).hexdigest()
    # rejects name the exact source, the same on every machine, with the line
    (reject,) = [json.loads(x) for x in (out / "rejects.jsonl").read_text().splitlines()]
    assert (reject["source"], reject["line"]) == (item["path"], 2)


def test_prepare_reads_the_hub_sources_of_a_recipe(offline, dataprep_cli, tok_dir, tmp_path):
    """A recipe mixing a Hub source (its own split) with a local file: the Hub rows come
    from the cache, each input records its commit, and the sources record counts both."""
    local = tmp_path / "local.jsonl"
    local.write_text("".join(json.dumps(_chat(10 + i)) + "\n" for i in range(2)))
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(
        f"sources:\n  - hub: org/chat\n    split: test\n    name: hubchat\n  - path: {local}\n"
    )
    out = tmp_path / "out"
    r = dataprep_cli(*_prepare(tok_dir, out, str(recipe)))
    assert r.code == 0, r.out + r.err
    manifest = json.loads((out / "dataprep.json").read_text())
    paths = [i["path"] for i in manifest["inputs"]]
    assert paths[0] == f"hf://datasets/org/chat@{SHA}/test.jsonl"
    assert manifest["inputs"][0]["hub"]["revision"] == SHA
    sources = {s["name"]: s for s in manifest["sources"]}
    # test.jsonl: two rows, the second with an empty answer (rejected)
    assert (sources["hubchat"]["rows_read"], sources["hubchat"]["rows_out"]) == (2, 1)
    assert manifest["counts"]["rows_out"] == 3


def test_prepare_local_inputs_have_no_hub_record(dataprep_cli, tok_dir, tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps(_chat(0)) + "\n")
    out = tmp_path / "out"
    r = dataprep_cli(*_prepare(tok_dir, out, str(src)))
    assert r.code == 0, r.out + r.err
    assert "hub" not in json.loads((out / "dataprep.json").read_text())["inputs"][0]
    assert "from the Hub" not in r.out


def test_prepare_same_commit_offline_is_a_cache_hit_and_a_new_commit_rebuilds(
    hub_cache, dataprep_cli, tok_dir, tmp_path, monkeypatch
):
    cache_dir = str(tmp_path / "cache")
    shutil.copytree(hub_cache, cache_dir, symlinks=True)
    _offline(monkeypatch, cache_dir)
    out = tmp_path / "out"
    args = _prepare(tok_dir, out, "org/chat")
    assert dataprep_cli(*args).code == 0
    again = dataprep_cli(*args)
    assert (again.code, "up to date" in again.out) == (0, True), again.out + again.err

    # The same files published again at a new commit: main now resolves to SHA2.
    repo = write_repo(tmp_path / "chat", REPOS["chat"])
    answers, _ = fill_cache({"org/chat": repo}, SHA2, [["org/chat", {}]], cache_dir)
    assert answers == [{"sha": SHA2, "files": ["train.jsonl"]}]
    rebuilt = dataprep_cli(*args)
    assert (rebuilt.code, "up to date" in rebuilt.out) == (0, False), rebuilt.out + rebuilt.err
    manifest = json.loads((out / "dataprep.json").read_text())
    assert manifest["inputs"][0]["hub"]["revision"] == SHA2
    # and the old commit, asked for by --revision, is in the cache still
    old = dataprep_cli(*args, "--revision", SHA)
    assert old.code == 0, old.out + old.err
    assert json.loads((out / "dataprep.json").read_text())["inputs"][0]["hub"]["revision"] == SHA


# --- offline and not cached: exit 2 in every command (recipe: a failed source, exit 1) ----

UNCACHED = "org/never: revision 'main' not in the Hugging Face cache"


@pytest.mark.parametrize(
    "args",
    [
        ["detect", "org/never"],
        ["validate", "org/never"],
        ["convert", "org/never", "--to", "messages"],
        ["stats", "org/never"],
        ["detect", "hf://datasets/org/never/train.jsonl"],
    ],
)
def test_an_uncached_dataset_offline_is_exit_2(offline, dataprep_cli, args):
    r = dataprep_cli(*args)
    assert r.code == 2, r.out + r.err
    assert r.err.startswith(f"error: {UNCACHED} ({offline}) and HF_HUB_OFFLINE is set")
    assert "hf download --repo-type dataset org/never" in r.err


def test_prepare_an_uncached_dataset_offline_is_exit_2(offline, dataprep_cli, tok_dir, tmp_path):
    r = dataprep_cli(*_prepare(tok_dir, tmp_path / "out", "org/never"))
    assert r.code == 2, r.out + r.err
    assert r.err.startswith(f"error: {UNCACHED}")
    assert not (tmp_path / "out").exists()


def test_recipe_an_uncached_source_offline_fails(offline, dataprep_cli, tmp_path):
    (tmp_path / "mix.yaml").write_text("sources:\n  - hub: org/never\n")
    r = dataprep_cli("recipe", str(tmp_path / "mix.yaml"))
    assert r.code == 1, r.out + r.err
    assert "check: FAILED" in r.out and UNCACHED in r.out


# --- the Hub options without a Hub input ---------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--split", "test"], "--split applies to a Hub dataset"),
        (["--subset", "en"], "--subset applies to a Hub dataset"),
        (["--revision", "v1"], "--revision applies to a Hub dataset"),
    ],
)
@pytest.mark.parametrize("command", ["detect", "validate"])
def test_hub_options_without_a_hub_input_are_exit_2(
    dataprep_cli, tmp_path, command, flags, message
):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps(_chat(0)) + "\n")
    r = dataprep_cli(command, str(src), *flags)
    assert r.code == 2, r.out + r.err
    assert r.err.startswith(f"error: {message}")


def test_split_reads_a_local_folder_laid_out_like_a_hub_repo(dataprep_cli, tmp_path):
    folder = write_repo(tmp_path / "clone", REPOS["chat"])
    r = dataprep_cli("validate", folder, "--split", "test")
    assert r.code == 1, r.out + r.err
    assert r.out.splitlines()[0].startswith(f"{os.path.join(folder, 'test.jsonl')}:2: ")
