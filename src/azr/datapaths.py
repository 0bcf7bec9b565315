"""Where benchmark data that azr does not ship is found: CRUXEval.

CRUXEval (Gu et al. 2024, MIT license) is one file, `data/cruxeval.jsonl` in
https://github.com/facebookresearch/cruxeval. azr looks for it, in order: `--data PATH` (per
command), `$AZR_CRUXEVAL`, `$AZR_SHARED_DATA/cruxeval/cruxeval.jsonl`, and the developers'
`../shared/data/cruxeval/cruxeval.jsonl` beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

CRUXEVAL_ENV = "AZR_CRUXEVAL"
CRUXEVAL_URL = "https://github.com/facebookresearch/cruxeval"


def shared_data_dir() -> Path:
    """`../shared/data` beside the repository (developers' checkout) or `$AZR_SHARED_DATA`."""
    env = os.environ.get("AZR_SHARED_DATA")
    if env:
        return Path(env)
    # src/azr/datapaths.py: parents[2] is the repository root, parents[3] the folder above it.
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def cruxeval_path() -> Path | None:
    """The CRUXEval file when no `--data` is given: `$AZR_CRUXEVAL` (as given, even when it
    does not exist, so the caller can say so), else the shared data folder if it has it."""
    env = os.environ.get(CRUXEVAL_ENV)
    if env:
        return Path(env).expanduser()
    candidate = shared_data_dir() / "cruxeval" / "cruxeval.jsonl"
    return candidate if candidate.is_file() else None


def cruxeval_missing(flag: str = "--data PATH") -> str:
    """One line: CRUXEval was not found, where it comes from and how to point azr at it."""
    env = os.environ.get(CRUXEVAL_ENV)
    if env and not Path(env).expanduser().is_file():
        return f"{CRUXEVAL_ENV}={env}: no such file (it should be CRUXEval's cruxeval.jsonl)"
    return (
        f"CRUXEval data not found: download data/cruxeval.jsonl from {CRUXEVAL_URL} "
        f"(MIT license), then pass {flag} or set {CRUXEVAL_ENV}=PATH"
    )
