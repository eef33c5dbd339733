"""Our recipe YAML and the deterministic mix."""

from __future__ import annotations

from collections import Counter

import pytest

from dataprep.recipe.model import Recipe, RecipeError, Source, load_recipe, plan_mix


def write(tmp_path, text, name="mix.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_full_recipe_reads_into_the_model(tmp_path):
    path = write(
        tmp_path,
        """\
seed: 7
rows: 100
eval_fraction: 0.1
dedup: true
kind: sft
max_length: 512
chat_template: chatml
pack: false
mask: last
system: Be brief.
sources:
  - path: a.jsonl
    weight: 2
  - hub: org/name
    split: train_sft
    subset: default
    revision: main
    format: messages
    fields: {messages: dialog, role: speaker}
    roles: {bot: assistant}
    system: Pirate.
    mask: all
    rows: 50
  - path: hf://datasets/org/other
    fraction: 0.5
  - path: /abs/held.jsonl
    eval: true
""",
    )
    r = load_recipe(path)
    assert (r.seed, r.rows, r.eval_fraction, r.dedup, r.kind, r.max_length) == (
        7,
        100,
        0.1,
        True,
        "sft",
        512,
    )
    assert (r.chat_template, r.pack, r.mask, r.system) == ("chatml", False, "last", "Be brief.")
    a, hub, other, held = r.sources
    assert (a.path, a.is_hub, a.weight, a.where) == (
        str(tmp_path / "a.jsonl"),
        False,
        2.0,
        f"{path}:12",
    )
    assert (hub.path, hub.is_hub, hub.split, hub.subset, hub.revision, hub.format) == (
        "org/name",
        True,
        "train_sft",
        "default",
        "main",
        "messages",
    )
    assert hub.fields == (("messages", "dialog"), ("role", "speaker"))
    assert hub.roles == (("bot", "assistant"),)
    assert (hub.system, hub.mask, hub.rows) == ("Pirate.", "all", 50)
    assert hub.mapping.apply({"dialog": [{"speaker": "bot"}]}) == {
        "messages": [{"role": "assistant"}]
    }
    assert (other.is_hub, other.fraction) == (True, 0.5)
    assert (held.path, held.eval) == ("/abs/held.jsonl", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources:\n  - path: a\n    wieght: 1\n", ":3: sources[0].wieght: unknown key"),
        ("seeds: 1\nsources:\n  - path: a\n", ":1: seeds: unknown key"),
        (
            "sources:\n  - path: a\n    hub: b/c\n",
            ":2: sources[0]: give exactly one of path and hub",
        ),
        (
            "sources:\n  - path: a\n    weight: 1\n    rows: 3\n",
            ":4: sources[0].rows: give at most one",
        ),
        (
            "sources:\n  - path: a\n    weight: 0\n",
            ":3: sources[0].weight: expected a positive number",
        ),
        (
            "sources:\n  - path: a\n    rows: true\n",
            ":3: sources[0].rows: expected a positive whole number",
        ),
        (
            "sources:\n  - path: a\n    format: json\n",
            ":3: sources[0].format: 'json' is not one of",
        ),
        ("sources:\n  - path: a\n    fields: {mesages: x}\n", ":3: sources[0].fields: bad --field"),
        ("sources:\n  - path: a\n    roles: {bot: robot}\n", ":3: sources[0].roles: bad --role"),
        (
            "sources:\n  - path: a\n    eval: true\n    weight: 1\n",
            ":4: sources[0].weight: an eval source",
        ),
        (
            "eval_fraction: 1.5\nsources:\n  - path: a\n",
            ":1: eval_fraction: expected a number in [0, 1)",
        ),
        ("mask: some\nsources:\n  - path: a\n", ":1: mask: 'some' is not one of"),
        ("sources: []\n", ":1: sources: expected a list of at least one source"),
        ("seed: 1\n", ":1: sources: expected a list"),
        ("sources:\n  - path: a\n  - path: b\n    path: c\n", ":4: path: the key is given twice"),
        ("sources: [\n", ":2: not valid YAML"),
    ],
)
def test_a_wrong_recipe_names_file_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(
        RecipeError if "twice" not in message and "YAML" not in message else Exception
    ) as e:
        load_recipe(path)
    assert f"{path}{message}" in str(e.value)
    assert getattr(e.value, "exit_code", None) == 2


def recipe(*sources, seed=0, rows=None):
    return Recipe(sources=tuple(sources), seed=seed, rows=rows)


@pytest.mark.parametrize(
    ("sources", "rows", "available", "counts"),
    [
        ((Source("a"), Source("b")), None, [5, 3], [5, 3]),  # no amount: every row
        ((Source("a", weight=1.0), Source("b", weight=1.0)), None, [10, 4], [4, 4]),
        ((Source("a", weight=1.0), Source("b", weight=3.0)), None, [100, 60], [20, 60]),
        ((Source("a", weight=1.0), Source("b", weight=2.0)), 10, [100, 100], [3, 7]),  # remainder
        ((Source("a", weight=1.0), Source("b", weight=1.0)), 30, [5, 5], [15, 15]),  # repeats
        ((Source("a", rows=3), Source("b", fraction=0.5)), None, [10, 9], [3, 4]),
        ((Source("a", rows=7),), None, [3], [7]),
        ((Source("a", fraction=2.0),), None, [3], [6]),
    ],
)
def test_plan_mix_counts(sources, rows, available, counts):
    plan = plan_mix(recipe(*sources, rows=rows), available)
    assert [len(ix) for ix in plan] == counts
    for ix, n in zip(plan, available, strict=True):
        assert ix == sorted(ix) and all(0 <= i < n for i in ix)


@pytest.mark.parametrize(("n", "k"), [(10, 4), (3, 7), (5, 5), (4, 9)])
def test_plan_mix_takes_rows_once_before_repeating_any(n, k):
    (ix,) = plan_mix(recipe(Source("a", rows=k), seed=3), [n])
    counts = Counter(ix)
    assert max(counts.values()) - min(counts.get(i, 0) for i in range(n)) <= 1


def test_plan_mix_is_deterministic_for_a_seed_and_varies_with_it():
    sources = (Source("a", weight=1.0), Source("b", weight=1.0))
    runs = {s: plan_mix(recipe(*sources, seed=s, rows=200), [1000, 1000]) for s in (1, 2)}
    assert plan_mix(recipe(*sources, seed=1, rows=200), [1000, 1000]) == runs[1]
    assert runs[1] != runs[2]
    assert runs[1][0] != runs[1][1]  # the two sources draw apart


def test_plan_mix_one_source_amount_leaves_the_others_alone():
    a = Source("a", rows=50)
    first = plan_mix(recipe(a, Source("b", rows=10), seed=5), [100, 100])
    second = plan_mix(recipe(a, Source("b", rows=20), seed=5), [100, 100])
    assert first[0] == second[0]
