"""Optional dependencies: when the model backend is not installed, say how to install it.

A plain `pip install -e .` gives the sandbox, `azr validate`, `azr grade`, `azr eval score` and
`azr report`; commands that load a model need torch and transformers (the `train` extra plus a
torch build). Without them they answer one line naming the install command, never a traceback.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from azr.errors import UserError

# What a command that loads a model imports first.
MODEL_MODULES = ("torch", "transformers")
# Top-level modules of the `train` extra (and torch); a ModuleNotFoundError naming one of these
# is a missing install, not a bug.
TRAIN_EXTRA_MODULES = frozenset(
    {
        "torch",
        "transformers",
        "safetensors",
        "accelerate",
        "gguf",
        "peft",
        "sentencepiece",
        "tokenizers",
    }
)
INSTALL_HINT = (
    "install them with: bash scripts/setup.sh, or on a CPU machine "
    'pip install -e ".[train,cpu]" --extra-index-url https://download.pytorch.org/whl/cpu '
    '(GPU: your CUDA torch, then pip install -e ".[train]")'
)


def missing(modules: Iterable[str]) -> list[str]:
    """The modules of `modules` that cannot be imported (looked up, not imported)."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or blocked install counts as missing
            found = False
        if not found:
            absent.append(name)
    return absent


def _needs(what: str, absent: list[str]) -> str:
    names = " and ".join(absent) if len(absent) <= 2 else ", ".join(absent)
    verb = "is" if len(absent) == 1 else "are"
    return f"{what} needs {names}, which {verb} not installed; {INSTALL_HINT}"


def require_model_backend(what: str) -> None:
    """Raise a one-line UserError naming the install command when torch/transformers are absent.

    `what` names the command, e.g. "azr train".
    """
    absent = missing(MODEL_MODULES)
    if absent:
        raise UserError(_needs(what, absent))


def missing_module_message(exc: ModuleNotFoundError, what: str = "this command") -> str | None:
    """The install hint for an import of a `train`-extra module that failed; None otherwise."""
    top = (exc.name or "").split(".")[0]
    if top not in TRAIN_EXTRA_MODULES:
        return None
    return _needs(what, [top])


def quiet_transformers() -> None:
    """Turn off transformers' own progress bars ("Loading weights ...") that would break up
    ours; nothing happens when transformers is not installed."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()
