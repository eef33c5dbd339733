"""Progress notes: said once, by the main process, with the number of processes."""

from __future__ import annotations

import pytest

from train import processes, say


@pytest.mark.parametrize(
    ("env", "suffix", "printed"),
    [
        ({}, "", True),
        ({"WORLD_SIZE": "1", "RANK": "0"}, "", True),
        ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, ", 2 processes", True),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}, ", 2 processes", False),
        ({"WORLD_SIZE": "16", "RANK": "8", "LOCAL_RANK": "0"}, ", 16 processes", False),
    ],
)
def test_only_the_main_process_says_and_names_the_count(monkeypatch, capsys, env, suffix, printed):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert processes() == suffix
    say(f"sft on 7 rows, cuda{processes()}")
    assert capsys.readouterr().err == (f"sft on 7 rows, cuda{suffix}\n" if printed else "")
