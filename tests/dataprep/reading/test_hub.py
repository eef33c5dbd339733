"""Hub ids: parsing, datasets' layout rules on folders laid out like Hub repos, and a real
huggingface_hub cache filled through a fake Hub on 127.0.0.1 (no network), read offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from hub_cache import fill_cache, write_repo

from dataprep.errors import InputError, UsageError
from dataprep.reading import read_records
from dataprep.reading.hub import HubDatasetError, HubRef, parse_hub_ref, resolve_folder, resolve_hub

SHA = "0123456789abcdef0123456789abcdef01234567"

TWO_SUBSETS = """---
configs:
- config_name: en
  default: true
  data_files:
  - split: train
    path: en/train-*.jsonl
  - split: test
    path: en/test.jsonl
- config_name: fr
  data_dir: fr
---
# Two subsets
"""


_write = write_repo


def _rows(n: int, tag: str) -> list[dict]:
    return [{"text": f"{tag} {i}"} for i in range(n)]


REPOS = {
    "two": {
        "README.md": TWO_SUBSETS,
        "en/train-0.jsonl": _rows(2, "en train 0"),
        "en/train-1.jsonl": _rows(1, "en train 1"),
        "en/test.jsonl": _rows(1, "en test"),
        "fr/train.jsonl": _rows(3, "fr train"),
        "fr/validation.jsonl": _rows(1, "fr validation"),
    },
    "sharded": {
        "README.md": "# no configs\n",
        "data/train-00000-of-00002.parquet": _rows(2, "shard 0"),
        "data/train-00001-of-00002.parquet": _rows(2, "shard 1"),
        "data/test-00000-of-00001.parquet": _rows(1, "test"),
    },
    "plain": {"train.jsonl": _rows(2, "train"), "test.jsonl": _rows(1, "test")},
    "script": {"script.py": "raise SystemExit\n", "data.jsonl": _rows(1, "x")},
    "images": {"train/a.png": "not really", "train/meta.jsonl": _rows(1, "x")},
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("repos")
    return {name: _write(base / name, files) for name, files in REPOS.items()}


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org/name", HubRef("org/name")),
        ("HuggingFaceH4/ultrachat_200k", HubRef("HuggingFaceH4/ultrachat_200k")),
        ("org/data.v2", HubRef("org/data.v2")),
        ("org/name@v1.0", HubRef("org/name", "v1.0")),
        ("org/name@" + SHA, HubRef("org/name", SHA)),
        ("hf://datasets/org/name", HubRef("org/name")),
        ("hf://datasets/org/name@dev", HubRef("org/name", "dev")),
        ("hf://datasets/org/name/data/train.jsonl", HubRef("org/name", None, "data/train.jsonl")),
        ("hf://datasets/org/name@dev/data/*.parquet", HubRef("org/name", "dev", "data/*.parquet")),
        (
            "hf://datasets/org/name@refs%2Fconvert%2Fparquet/default/train/*.parquet",
            HubRef("org/name", "refs/convert/parquet", "default/train/*.parquet"),
        ),
        # not Hub ids: local paths, stdin, file names, nested paths
        ("-", None),
        ("./org/name", None),
        ("../org/name", None),
        ("/org/name", None),
        ("~/org/name", None),
        ("x.jsonl", None),
        ("name", None),
        ("org/rows.jsonl", None),
        ("org/rows.parquet", None),
        ("org/rows.jsonl.gz", None),
        ("a/b/c", None),
        ("org--x/name", None),
        ("org/na..me", None),
        ("org/-name", None),
    ],
)
def test_parse_hub_ref(text, expected):
    assert parse_hub_ref(text) == expected


def test_an_existing_local_folder_wins_over_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_hub_ref("org/name") == HubRef("org/name")
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert parse_hub_ref("org/name") is None


@pytest.mark.parametrize("text", ["hf://models/org/name", "hf://datasets/name", "hf://datasets/"])
def test_a_malformed_hf_url_is_a_usage_error(text):
    with pytest.raises(UsageError, match="hf://datasets/ORG/NAME"):
        parse_hub_ref(text)


# --- layout rules on local folders -----------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "subset", "split", "want_subset", "want_split", "want_files"),
    [
        ("two", None, None, "en", "train", ["en/train-0.jsonl", "en/train-1.jsonl"]),
        ("two", "en", "test", "en", "test", ["en/test.jsonl"]),
        ("two", "fr", None, "fr", "train", ["fr/train.jsonl"]),
        ("two", "fr", "validation", "fr", "validation", ["fr/validation.jsonl"]),
        (
            "sharded",
            None,
            None,
            None,
            "train",
            ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
        ),
        ("sharded", None, "test", None, "test", ["data/test-00000-of-00001.parquet"]),
        ("plain", None, None, None, "train", ["train.jsonl"]),
        ("plain", "default", "test", None, "test", ["test.jsonl"]),
    ],
)
def test_resolve_folder(repos, repo, subset, split, want_subset, want_split, want_files):
    root = repos[repo]
    got = resolve_folder(root, subset=subset, split=split)
    assert got == (want_subset, want_split, [os.path.join(root, *f.split("/")) for f in want_files])


@pytest.mark.parametrize(
    ("repo", "subset", "split", "error", "message"),
    [
        ("two", "de", None, HubDatasetError, "no subset 'de': pass --subset with one of en, fr"),
        (
            "two",
            "fr",
            "test",
            HubDatasetError,
            "no split 'test' in subset 'fr': the splits are train, validation",
        ),
        (
            "two",
            None,
            "dev",
            HubDatasetError,
            "no split 'dev' in subset 'en': the splits are train, test",
        ),
        ("sharded", None, "valid", HubDatasetError, "no split 'valid': the splits are train, test"),
        ("plain", "en", None, HubDatasetError, "no subset 'en': the dataset declares no subsets"),
        ("script", None, None, InputError, "loading script \\(script.py\\)"),
        (
            "images",
            None,
            None,
            InputError,
            "data files we cannot read \\(.png: e.g. train/a.png\\)",
        ),
    ],
)
def test_resolve_folder_errors_say_what_exists(repos, repo, subset, split, error, message):
    with pytest.raises(error, match=message) as caught:
        resolve_folder(repos[repo], subset=subset, split=split)
    assert caught.value.exit_code == (2 if error is HubDatasetError else 1)


def test_several_splits_and_no_train_ask_for_one(tmp_path):
    root = _write(tmp_path, {"validation.jsonl": _rows(1, "v"), "test.jsonl": _rows(1, "t")})
    with pytest.raises(
        HubDatasetError, match="several splits: pass --split with one of validation, test"
    ):
        resolve_folder(root)


# --- a real cache, filled through a fake Hub, read offline ------------------------------

_CALLS = [
    ["org/two", {"subset": "fr"}],
    ["org/sharded", {}],
    ["hf://datasets/org/plain/test.jsonl", {}],
    ["org/missing", {}],
]


@pytest.fixture(scope="module")
def cache(repos, tmp_path_factory):
    """A hub cache filled by huggingface_hub's own snapshot_download, through resolve_hub
    online against the fake Hub; with what each online call answered."""
    cache_dir = str(tmp_path_factory.mktemp("hub-cache"))
    repo_ids = {f"org/{name}": path for name, path in repos.items()}
    answers, requests = fill_cache(repo_ids, SHA, _CALLS, cache_dir)
    return cache_dir, answers, requests


def test_online_resolution_downloads_only_the_split(cache):
    _, answers, requests = cache
    assert answers[:3] == [
        {"sha": SHA, "files": ["fr/train.jsonl"]},
        {
            "sha": SHA,
            "files": ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
        },
        {"sha": SHA, "files": ["test.jsonl"]},
    ]
    assert answers[3]["error"] == "HubDatasetError" and "no such dataset" in answers[3]["message"]
    fetched = sorted(
        r.split("/resolve/")[1] for r in requests if r.startswith("GET /datasets/org/two/")
    )
    assert fetched == [f"{SHA}/README.md", f"{SHA}/fr/train.jsonl"]


@pytest.fixture
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.mark.parametrize(
    ("ref", "kw", "repo", "files"),
    [
        ("org/two", {"subset": "fr"}, "two", ["fr/train.jsonl"]),
        ("org/two@main", {"subset": "fr", "split": "train"}, "two", ["fr/train.jsonl"]),
        (
            f"org/sharded@{SHA}",
            {},
            "sharded",
            ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"],
        ),
        ("hf://datasets/org/plain/test.jsonl", {}, "plain", ["test.jsonl"]),
    ],
)
def test_offline_a_cached_dataset_resolves_to_its_files(cache, offline, ref, kw, repo, files):
    cache_dir = cache[0]
    source = resolve_hub(ref, cache_dir=cache_dir, **kw)
    snapshot = os.path.join(cache_dir, f"datasets--org--{repo}", "snapshots", SHA)
    assert (source.repo_id, source.revision, source.repo_files) == (
        f"org/{repo}",
        SHA,
        tuple(files),
    )
    assert source.files == tuple(os.path.join(snapshot, *f.split("/")) for f in files)
    assert source.url == f"hf://datasets/org/{repo}@{SHA}"
    # the files are plain files our reader reads, each row at its place
    rows = [
        (os.path.basename(r.source), r.line, r.value["text"])
        for f in source.files
        for r in read_records(f)
    ]
    want = [
        (os.path.basename(f), i + 1, row["text"])
        for f in files
        for i, row in enumerate(REPOS[repo][f])
    ]
    assert rows == want


@pytest.mark.parametrize(
    ("ref", "kw", "message"),
    [
        ("org/never", {}, "org/never: revision 'main' not in the Hugging Face cache"),
        ("org/two@dev", {"subset": "fr"}, "org/two: revision 'dev' not in the Hugging Face cache"),
        # the cached tree listing knows fr/validation.jsonl, which was never downloaded
        ("org/two", {"subset": "fr", "split": "validation"}, f"the files of commit {SHA} not in"),
    ],
)
def test_offline_an_uncached_dataset_is_a_usage_error(cache, offline, ref, kw, message):
    cache_dir = cache[0]
    with pytest.raises(HubDatasetError) as caught:
        resolve_hub(ref, cache_dir=cache_dir, **kw)
    text = str(caught.value)
    assert caught.value.exit_code == 2
    assert message in text
    assert cache_dir in text and "hf download --repo-type dataset org/" in text


def test_offline_without_a_cached_file_list_reads_what_is_cached(cache, offline, tmp_path):
    # A cache filled by hf_hub_download alone (as datasets fills it) has no tree listing.
    cache_dir = str(tmp_path / "cache")
    shutil.copytree(cache[0], cache_dir, symlinks=True)
    shutil.rmtree(os.path.join(cache_dir, "datasets--org--sharded", "trees"))
    source = resolve_hub("org/sharded", cache_dir=cache_dir)
    assert source.repo_files == (
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    )
    assert source.notes == ("offline, with no cached file list: read the files found in the cache",)


@pytest.mark.parametrize(
    ("ref", "kw", "message"),
    [
        ("org/two@main", {"revision": "dev"}, "revision given twice"),
        (
            "hf://datasets/org/plain/test.jsonl",
            {"split": "test"},
            "chooses the files: drop --split",
        ),
        ("rows.jsonl", {}, "not a Hub dataset id"),
    ],
)
def test_resolve_hub_usage_errors(ref, kw, message, offline, tmp_path):
    with pytest.raises(UsageError, match=message):
        resolve_hub(ref, cache_dir=str(tmp_path), **kw)


@pytest.mark.parametrize(
    ("make", "hub_loaded"),
    [
        (lambda d: str(d / "rows.jsonl"), False),  # a file that exists: no Hub module
        (lambda d: str(d / "*.jsonl"), False),  # a glob (an absolute path)
        (lambda d: "-", False),  # stdin
        (lambda d: "org/missing-name", True),  # could be a Hub id: looked up
    ],
)
def test_local_inputs_leave_the_hub_module_unloaded(tmp_path, make, hub_loaded):
    # A fresh process, as a command starts: the Hub module (dataclasses, uuid) costs every
    # command a few milliseconds, so only an input that may be on the Hub imports it.
    (tmp_path / "rows.jsonl").write_text('{"text": "x"}\n')
    code = (
        "import sys\n"
        "from dataprep.errors import DataprepError\n"
        "from dataprep.reading.inputs import expand_inputs\n"
        "try:\n"
        f"    expand_inputs([{make(tmp_path)!r}])\n"
        "except DataprepError:\n"
        "    pass\n"
        "print('dataprep.reading.hub' in sys.modules)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == str(hub_loaded), done.stderr
