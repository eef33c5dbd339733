"""``prepare --engine ray`` (issue 13) on a real cluster: a head and a second node started
on this machine (``ray_cluster``), the same bytes as ``--engine local`` for the same
inputs and options, a worker killed mid-job retried with the output unchanged, and the
usage errors (no Ray installed, --address without --engine ray, a bad recipe engine).

Skipped without Ray, except where DATAPREP_REQUIRE_RAY=1 (CI), which makes a missing
Ray a failure instead."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import orjson
import pytest

from dataprep.cli import main
from dataprep.errors import InputError, PrepareError, UsageError
from dataprep.prepare import ray_engine
from dataprep.prepare.pipeline import PrepareOptions, prepare

# Blocks this small cut the test's files into many JSONL ranges (the real minimum is
# 1 MiB), so that line numbers, picks and order cross range boundaries.
BLOCK_BYTES = 3000


def needs_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("DATAPREP_REQUIRE_RAY") == "1":
            pytest.fail("DATAPREP_REQUIRE_RAY=1 but ray is not installed")
        pytest.skip('ray is not installed (pip install "dataprep[ray]")')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    needs_ray()
    if sys.platform != "linux":
        # Ray runs several nodes on one machine on Linux only (and /proc finds their processes).
        pytest.skip("a two-node Ray cluster on one machine needs Linux")
    from ray_cluster import ray_cluster

    with ray_cluster(tmp_path_factory.mktemp("ray"), cpus=1, nodes=2) as running:
        yield running


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(ray_engine, "block_bytes", lambda inputs, workers: BLOCK_BYTES)


def chat(i: int, turns: int = 1) -> dict:
    messages = []
    for t in range(turns):
        messages += [
            {"role": "user", "content": f"question {i}.{t} about the weather in paris"},
            {"role": "assistant", "content": f"answer {i}.{t}: sure, here is a reply"},
        ]
    return {"messages": messages}


def sharegpt(i: int) -> dict:
    return {
        "conversations": [
            {"from": "human", "value": f"sharegpt question {i}"},
            {"from": "gpt", "value": f"sharegpt answer {i}"},
        ]
    }


def alpaca(i: int) -> dict:
    return {"instruction": f"task {i}", "input": "", "output": f"done {i}"}


def lines(rows: list) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Several files and a glob: JSONL cut into ranges, a JSON array read whole, blank
    lines, rows that cannot be read, converted or kept, and duplicates across files."""
    folder = tmp_path_factory.mktemp("data")
    rows: list = []
    for i in range(160):
        rows.append(chat(i, turns=1 + i % 4))
        if i % 37 == 5:
            rows.append(b'{"messages": [oops')  # invalid-json
        if i % 41 == 7:
            rows.append(b"")  # a blank line: not a row, but counted in the line numbers
        if i % 43 == 11:
            rows.append({"question": "which format is this?"})  # unknown-format
        if i % 29 == 3:
            rows.append(chat(1000 + i, turns=40))  # too-long
    (folder / "a.jsonl").write_bytes(lines(rows))
    (folder / "shards").mkdir()
    for part in range(2):
        shard: list = [sharegpt(part * 100 + i) for i in range(70)]
        shard.insert(9, chat(3))  # a duplicate of a row of a.jsonl
        for at in (20, 45, 66):
            shard.insert(at, b"[1, 2]")  # non-object-row, in every range of the file
        (folder / "shards" / f"part-{part}.jsonl").write_bytes(lines(shard))
    (folder / "c.json").write_bytes(orjson.dumps([alpaca(i) for i in range(40)]))
    return folder


def options(data: Path, out: Path, **kw) -> PrepareOptions:
    kw.setdefault("eval_fraction", 0.2)
    kw.setdefault("dedup", True)
    kw.setdefault("seed", 7)
    return PrepareOptions(
        inputs=[str(data / "a.jsonl"), str(data / "shards" / "*.jsonl"), str(data / "c.json")],
        max_length=192,
        output=str(out),
        **kw,
    )


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "dataprep.json"
    }


def manifest(folder: Path) -> dict:
    """The manifest without what may differ: how long it took, and the engine."""
    m = orjson.loads((folder / "dataprep.json").read_bytes())
    return {k: v for k, v in m.items() if k not in ("seconds", "engine")}


@pytest.fixture(scope="module")
def local(data, tok_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    prepare(options(data, out, tokenizer=tok_dir, num_proc=1))
    return out


def test_the_data_is_what_the_test_means(data, local):
    """The control: the reference run rejects rows of every kind, packs, splits, and the
    ray runs below cut a.jsonl into many ranges."""
    m = orjson.loads((local / "dataprep.json").read_bytes())
    assert m["engine"] == "local"
    assert set(m["counts"]["rejected"]) == {
        "invalid-json",
        "non-object-row",
        "unknown-format",
        "too-long",
        "duplicate",
    }
    assert set(m["splits"]) == {"train", "eval"} and m["packing"]
    from dataprep.prepare.identity import gather_inputs

    inputs = gather_inputs(options(data, local, tokenizer="t"), local)
    assert len(inputs) == 4  # the glob gave two files
    blocks = ray_engine.plan_blocks(inputs, BLOCK_BYTES)
    assert sum(b.is_range for b in blocks) > 10 and not blocks[-1].is_range  # c.json whole


def test_ray_engine_writes_the_same_bytes_as_the_local_engine(
    cluster, data, local, tok_dir, tmp_path, small_blocks
):
    out = tmp_path / "ray"
    result = prepare(options(data, out, tokenizer=tok_dir, engine="ray", address=cluster.address))
    assert result.manifest["engine"] == "ray"
    assert files(out) == files(local)  # data files, dataset_info, state, rejects.jsonl
    assert manifest(out) == manifest(local)


def test_a_worker_killed_mid_job_is_retried_and_the_output_is_unchanged(
    cluster, data, local, tok_dir, tmp_path, small_blocks
):
    killed: list[int] = []
    before: list[int] = []
    after: set[int] = set()
    seen = []

    def kill_one_worker(n: int) -> None:
        seen.append(n)
        if killed:
            after.update(cluster.actors("EncodeBlocks"))
            return
        before.extend(cluster.actors("EncodeBlocks"))
        assert before, "no Ray Data actor of ours found"
        os.kill(before[0], signal.SIGKILL)
        killed.append(before[0])

    out = tmp_path / "ray"
    result = prepare(
        options(data, out, tokenizer=tok_dir, engine="ray", address=cluster.address),
        on_rows=kill_one_worker,
    )
    assert killed and len(seen) > 5  # killed at the first batch, with many still to come
    assert killed[0] not in cluster.actors("EncodeBlocks")
    assert after - set(before), "Ray started no worker in place of the killed one"
    assert result.manifest["counts"]["rows_in"] == sum(seen)
    assert files(out) == files(local)
    assert manifest(out) == manifest(local)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_a_recipe_runs_on_ray_with_the_same_mix_and_bytes(
    cluster, data, tok_dir, tmp_path, small_blocks, capsys
):
    # engine and address from the recipe; the mix picks rows from files cut in ranges.
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(
        f"seed: 5\neval_fraction: 0.1\ndedup: true\nengine: ray\naddress: {cluster.address}\n"
        f"sources:\n  - path: {data / 'a.jsonl'}\n    fraction: 0.6\n"
        f"  - path: {data / 'shards'}\n    rows: 100\n"
        f"  - path: {data / 'c.json'}\n    weight: 1\n"
    )
    common = ["prepare", recipe, "--tokenizer", tok_dir, "--max-length", 192]
    code, _, err = run_cli(capsys, *common, "-o", tmp_path / "ray")
    assert code == 0, err
    code, _, err = run_cli(capsys, *common, "-o", tmp_path / "local", "--engine", "local")
    assert code == 0, err
    ray_manifest = orjson.loads((tmp_path / "ray" / "dataprep.json").read_bytes())
    assert ray_manifest["engine"] == "ray" and ray_manifest["sources"][1]["rows_selected"] == 100
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    assert manifest(tmp_path / "ray") == manifest(tmp_path / "local")


def test_a_hub_dataset_prepares_on_ray_as_locally(
    cluster, tok_dir, tmp_path, tmp_path_factory, small_blocks, monkeypatch
):
    # The driver resolves the Hub id to the files in its cache (offline, the cache filled
    # through the fake Hub); the workers read those paths, as any other input.
    from hub_cache import fill_cache, write_repo
    from huggingface_hub import constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    shards = {
        f"data/train-0000{k}-of-00002.jsonl": [chat(k * 100 + i) for i in range(60)]
        + [{"messages": [{"role": "user", "content": "no answer"}]}]
        for k in range(2)
    }
    repo = write_repo(tmp_path_factory.mktemp("repo"), shards)
    cache = str(tmp_path_factory.mktemp("hub-cache"))
    answers, _ = fill_cache({"org/chats": repo}, sha, [["org/chats", {}]], cache)
    assert answers[0].get("sha") == sha, answers
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache)

    def run(name: str, **kw) -> Path:
        out = tmp_path / name
        prepare(PrepareOptions(inputs=["org/chats"], tokenizer=tok_dir, max_length=192,
                               output=str(out), **kw))  # fmt: skip
        return out

    local, ray = run("local", num_proc=1), run("ray", engine="ray", address=cluster.address)
    m = manifest(ray)
    assert [i["hub"]["path"] for i in m["inputs"]] == sorted(shards)
    assert m["counts"]["rejected"] == {"no-final-assistant": 2}
    assert files(ray) == files(local)
    assert m == manifest(local)


# --- without a cluster -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "ray"], 'error: --engine ray needs Ray: pip install "dataprep[ray]"'),
        (["--address", "127.0.0.1:6379"], "--address goes with --engine ray"),
    ],
)
def test_usage_errors(capsys, monkeypatch, tok_dir, tmp_path, args, message):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    src = tmp_path / "in.jsonl"
    src.write_bytes(lines([chat(0)]))
    code, _, err = run_cli(
        capsys, "prepare", src, "--tokenizer", tok_dir, "--max-length", 64,
        "-o", tmp_path / "out", *args,
    )  # fmt: skip
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_glob_that_matches_nothing_is_a_usage_error(capsys, tok_dir, tmp_path):
    pattern = tmp_path / "shards" / "*.jsonl"
    code, _, err = run_cli(capsys, "prepare", pattern, "--tokenizer", tok_dir,
                           "--max-length", 64, "-o", tmp_path / "out")  # fmt: skip
    assert code == 2
    assert f"error: no file matches {pattern}" in err


def test_a_recipe_names_a_known_engine(capsys, tok_dir, tmp_path):
    (tmp_path / "in.jsonl").write_bytes(lines([chat(0)]))
    recipe = tmp_path / "mix.yaml"
    recipe.write_text("engine: spark\nsources:\n  - path: in.jsonl\n")
    code, _, err = run_cli(capsys, "prepare", recipe, "--tokenizer", tok_dir,
                           "--max-length", 64, "-o", tmp_path / "out")  # fmt: skip
    assert code == 2
    assert f"{recipe}:1: engine: 'spark' is not one of local, ray [bad-value]" in err


@pytest.mark.parametrize(
    "error",
    [
        InputError("data.parquet", "cannot read: damaged", "corrupt-file"),
        UsageError("data.jsonl: not found on the Ray node n1"),
        PrepareError("chat template x: cannot verify"),
    ],
)
def test_a_workers_error_is_raised_on_the_driver_as_it_was(error):
    import pickle

    _, kind, args, attrs = pickle.loads(ray_engine._error_payload(error))
    with pytest.raises(type(error)) as info:
        ray_engine._raise_error(kind, args, attrs)
    assert str(info.value) == str(error) and vars(info.value) == vars(error)
    assert info.value.exit_code == error.exit_code


@pytest.mark.parametrize(
    ("attempt", "error", "message"),
    [
        # Retries up to MAX_ATTEMPTS go on (here to the missing file of the next check)...
        (ray_engine.MAX_ATTEMPTS, UsageError, "/nowhere/a.jsonl: not found on the Ray node"),
        # ...one more stops the run, naming the block.
        (
            ray_engine.MAX_ATTEMPTS + 1,
            PrepareError,
            "/nowhere/a.jsonl (bytes 100-200): a Ray worker died on this block 3 times",
        ),
    ],
)
def test_a_block_that_kills_its_worker_every_time_stops_the_run(attempt, error, message):
    import pickle

    actor = ray_engine.EncodeBlocks.__new__(ray_engine.EncodeBlocks)
    actor.failure = None
    actor._attempt = lambda index: attempt
    status, *rest = pickle.loads(actor.encode(ray_engine.Block(4, 0, "/nowhere/a.jsonl", 100, 200)))
    assert status == "error"
    with pytest.raises(error, match=re.escape(message)):
        ray_engine._raise_error(*rest)
