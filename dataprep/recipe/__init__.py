"""Recipes: the sources of one dataset, read from our YAML or from a peer's config.

``model`` holds the recipe (``Recipe``, ``Source``), reads our YAML (``load_recipe``) and
plans a deterministic mix (``plan_mix``); ``llamafactory`` and ``axolotl`` read those
projects' configs into a recipe and a mapping report (``report``); ``check`` reads the
first rows of each local source to show it can be read and mapped.
"""
