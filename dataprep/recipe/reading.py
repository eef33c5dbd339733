"""Which kind of config a file is, and the recipe it amounts to: shared by
``dataprep recipe`` and ``dataprep prepare`` (a single input that is a config).

A file is a config by its name and content, never by guessing at data:
``dataset_info.json`` (or any file with ``--dataset``) is LLaMA-Factory's; a YAML file
(``.yaml``/``.yml``) is an Axolotl config when it has ``datasets:``/``test_datasets:``,
else our recipe. Data files are never YAML, so a YAML input is always a config.

>>> is_config("data/dataset_info.json", None), is_config("mix.yml", None)
(True, True)
>>> is_config("chats.jsonl", None), is_config("chats.json", "a,b")
(False, True)
"""

from __future__ import annotations

import os

from dataprep.recipe.model import Recipe
from dataprep.recipe.report import Report

YAML_SUFFIXES = (".yaml", ".yml")
LLAMAFACTORY_NAME = "dataset_info.json"


def is_config(path: str, datasets: str | None) -> bool:
    """Whether ``path`` is a recipe or a peer's config rather than data."""
    return (
        datasets is not None
        or os.path.basename(path) == LLAMAFACTORY_NAME
        or path.lower().endswith(YAML_SUFFIXES)
    )


def read_config(
    path: str, datasets: str | None, dataset_dir: str | None = None
) -> tuple[Recipe, Report | None, str]:
    """(recipe, mapping report or None for our own recipe, what the file is) for ``path``."""
    from dataprep.recipe._yaml import read_located

    if os.path.basename(path) == LLAMAFACTORY_NAME or datasets is not None:
        from dataprep.recipe.llamafactory import read_dataset_info

        names = [n.strip() for n in (datasets or "").split(",") if n.strip()]
        recipe, report = read_dataset_info(path, names, dataset_dir)
        return recipe, report, "LLaMA-Factory dataset_info"
    doc = read_located(path)
    if isinstance(doc, dict) and ("datasets" in doc or "test_datasets" in doc):
        from dataprep.recipe.axolotl import read_axolotl

        recipe, report = read_axolotl(path)
        return recipe, report, "Axolotl config"
    from dataprep.recipe.model import load_recipe

    return load_recipe(path), None, "recipe"
