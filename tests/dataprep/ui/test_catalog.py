"""Only the paths given, and files inside a given folder, are ever reached."""

from __future__ import annotations

import os

import pytest

from dataprep.ui.catalog import Catalog, Forbidden, NotFound, classify


@pytest.fixture
def tree(tmp_path):
    given = tmp_path / "given"
    (given / "sub").mkdir(parents=True)
    (given / "a.jsonl").write_text('{"text": "a"}\n')
    (given / "sub" / "b.jsonl").write_text('{"text": "b"}\n')
    (tmp_path / "secret.jsonl").write_text('{"text": "secret"}\n')
    os.symlink(tmp_path / "secret.jsonl", given / "out.jsonl")
    os.symlink(tmp_path, given / "up")
    os.symlink(given / "a.jsonl", given / "in.jsonl")
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "error"),
    [
        ("a.jsonl", None),
        ("sub/b.jsonl", None),
        ("in.jsonl", None),  # a symlink that stays inside
        ("../secret.jsonl", Forbidden),
        ("sub/../../secret.jsonl", Forbidden),
        ("out.jsonl", Forbidden),  # a symlink out
        ("up/secret.jsonl", Forbidden),  # through a symlinked folder
        ("/etc/passwd", Forbidden),
        ("~/.bashrc", Forbidden),
        ("a.jsonl\0", Forbidden),
        ("sub", NotFound),  # a folder is not a file
        ("missing.jsonl", NotFound),
    ],
)
def test_member_refuses_what_leaves_the_folder(tree, rel, error):
    catalog = Catalog([str(tree / "given")])
    if error is None:
        path = catalog.member(0, rel)
        assert os.path.commonpath([path, str((tree / "given").resolve())]) == str(
            (tree / "given").resolve()
        )
    else:
        with pytest.raises(error):
            catalog.member(0, rel)


def test_a_file_input_has_no_members_and_numbers_are_checked(tree):
    catalog = Catalog([str(tree / "given" / "a.jsonl")])
    with pytest.raises(Forbidden):
        catalog.member(0, "a.jsonl")
    with pytest.raises(NotFound):
        catalog.entry(1)
    assert catalog.file(0).path == str(tree / "given" / "a.jsonl")


def test_listing_leaves_out_symlinks_that_lead_out(tree):
    listed = Catalog([str(tree / "given")]).listing(0)
    assert sorted(listed) == ["a.jsonl", "in.jsonl", "sub/b.jsonl"]


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.joinpath("dataprep.json").write_text("{}"), "prepared"),
        (lambda p: p.joinpath("state.json").write_text("{}"), "file"),
        (lambda p: p.joinpath("tokenizer.json").write_text("{}"), "tokenizer"),
        (lambda p: None, "folder"),
    ],
)
def test_classify_folders(tmp_path, make, kind):
    make(tmp_path)
    assert classify(str(tmp_path)) == kind
