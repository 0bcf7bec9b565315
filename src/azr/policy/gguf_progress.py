"""One rich progress line for the one-off GGUF conversion, instead of transformers' tqdm bar.

transformers dequantises a GGUF file tensor by tensor under its own `tqdm` bar, which floods a
terminal (or a log) with redraws; `transformers.utils.logging.disable_progress_bar()` does not
reach it. `one_line_gguf_progress()` makes that loop report to a single rich progress line on
stderr instead (once per conversion; converted models are cached, so usually never again).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any

# Where transformers' GGUF loader looks up its `tqdm`.
_LOADER = "transformers.modeling_gguf_pytorch_utils"
LABEL = "converting GGUF weights (once; cached afterwards)"


def _one_line(iterable: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
    """A `tqdm` stand-in: the items of `iterable` under one rich progress line."""
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    items = list(iterable)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    bar = Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True))
    try:
        bar.start()
    except LiveError:  # another live display is active: stay silent rather than fight it
        yield from items
        return
    try:
        task = bar.add_task(LABEL, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
    finally:
        bar.stop()


def one_line_gguf_progress() -> bool:
    """Route transformers' GGUF conversion bar to one rich line; False if it cannot be found."""
    try:
        loader = importlib.import_module(_LOADER)
    except ImportError:  # another transformers layout: leave its output alone
        return False
    if not hasattr(loader, "tqdm"):
        return False
    setattr(loader, "tqdm", _one_line)  # noqa: B010 - a module attribute set at run time
    return True
