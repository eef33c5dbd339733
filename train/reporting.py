"""``report_to``: the logging backends a run reports to must be installed before it starts.

transformers builds a backend's callback when the trainer is made and fails there, after
the data and the model are loaded, with a traceback. ``check_report_to`` asks first, the
way transformers' ``integration_utils`` finds them (``importlib.util.find_spec``, no
import), and refuses with the fix. Written against transformers 5.24's backend names;
a name not listed here is left to transformers, which refuses unknown ones itself.

>>> check_report_to(RunConfig(trl={"report_to": "none"}))
"""

from __future__ import annotations

import importlib.util
from typing import Any

from dataprep.errors import UsageError
from train.config import RunConfig, source_of

# backend -> (modules it needs, each a tuple of alternatives; what to pip install)
BACKENDS: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "tensorboard": ((("tensorboard", "tensorboardX"),), "tensorboard"),
    "wandb": ((("wandb",),), "wandb"),
    "mlflow": ((("mlflow",),), "mlflow"),
    "comet_ml": ((("comet_ml",),), "comet_ml"),
    "neptune": ((("neptune",),), "neptune"),
    "clearml": ((("clearml",),), "clearml"),
    "azure_ml": ((("azureml.core.run",),), "azureml-core"),
    "codecarbon": ((("codecarbon",),), "codecarbon"),
    "dagshub": ((("dagshub",), ("mlflow",)), "dagshub mlflow"),
    "flyte": ((("flytekit",), ("flytekitplugins.deck",)), "flytekit flytekitplugins-deck-standard"),
    "dvclive": ((("dvclive",),), "dvclive"),
    "swanlab": ((("swanlab",),), "swanlab"),
    "trackio": ((("trackio",),), "trackio"),
}


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, asked without importing it (a dotted name's
    parents are imported by find_spec; a missing parent means not installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def backends(value: Any) -> list[str]:
    """The backend names ``report_to`` holds: a name or a list of them; ``none``, ``all``
    and unset name none to check (``all`` means the installed ones).

    >>> backends("tensorboard"), backends(["wandb", "mlflow"]), backends("all"), backends(None)
    (['tensorboard'], ['wandb', 'mlflow'], [], [])
    """
    names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [n for n in names if isinstance(n, str) and n not in ("none", "all")]


def missing_backends(value: Any) -> list[str]:
    """The backends of ``report_to`` that are known and not installed, in order."""
    missing = []
    for name in backends(value):
        needs = BACKENDS.get(name)
        if needs is None:
            continue  # transformers' own check words an unknown name
        if not all(any(is_installed(m) for m in choices) for choices in needs[0]):
            missing.append(name)
    return missing


def check_report_to(run: RunConfig) -> None:
    """Refuse a ``report_to`` backend that is not installed, naming what to install.

    Raises UsageError (exit 2): ``sft.yaml: report_to: tensorboard is not installed:
    pip install tensorboard, or --set report_to=none``.
    """
    missing = missing_backends(run.trl.get("report_to"))
    if not missing:
        return
    where = source_of(run.sources, "report_to", "config")
    packages = " ".join(BACKENDS[name][1] for name in missing)
    verb = "is" if len(missing) == 1 else "are"
    raise UsageError(
        f"{where}: report_to: {', '.join(missing)} {verb} not installed: "
        f"pip install {packages}, or --set report_to=none"
    )
