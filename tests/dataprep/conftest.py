"""Fixtures shared by the prepare and CLI tests."""

from __future__ import annotations

import pytest
import tokenizer_factory


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory) -> str:
    """A saved ChatML byte-level BPE tokenizer whose template marks generated text."""
    from dataprep.prepare.template.choice import builtin_template

    tokenizer = tokenizer_factory.family_tokenizer(
        builtin_template("chatml").source, vocab_size=800
    )
    return str(tokenizer_factory.save_tokenizer(tokenizer, tmp_path_factory.mktemp("tok")))
