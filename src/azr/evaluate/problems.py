"""What every benchmark provides: problems, prompts, answer extraction and official scoring.

A *generation* is what a benchmark's own scorer consumes (CRUXEval-O: an output expression;
CRUXEval-I: a call `f(...)`; HumanEval: a function-body completion; MATH: the answer text). Raw
model text becomes a generation through `Benchmark.extract`, so `azr eval score` can take
generations made elsewhere in exactly the format the benchmark's authors publish.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

PromptStyle = Literal["benchmark", "ours"]
PROMPT_STYLES: tuple[str, ...] = get_args(PromptStyle)

# Called with the number of generations just scored (drives progress bars).
ProgressCallback = Callable[[int], None]


class ExecutorLike(Protocol):
    """The part of `azr.sandbox.Executor` scorers use (batched, ordered)."""

    def run(self, requests: Sequence[Any]) -> list[Any]:
        """Run each request in the sandbox; results in request order."""
        ...


@dataclass(frozen=True)
class Problem:
    """One benchmark item: a stable id and the benchmark-specific fields."""

    id: str
    fields: dict[str, Any] = field(default_factory=dict)


class Benchmark(ABC):
    """A benchmark: loader, prompts in two styles, extraction, official scoring."""

    name: str = ""
    description: str = ""
    # Wall-clock limit per scoring execution (CRUXEval's own harness uses 3 s).
    timeout_s: float = 3.0
    max_new_tokens: int = 512
    # Scoring protocols this benchmark offers; the first is the default.
    scorings: tuple[str, ...] = ("official",)
    needs_executor: bool = True

    @abstractmethod
    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """Problems from `data` (a file) or the bundled copy; the first `limit` when given."""

    def prepare(self, problems: list[Problem], executor: ExecutorLike | None) -> list[Problem]:
        """Finish problems that need the sandbox to be built (default: nothing to do)."""
        return problems

    @abstractmethod
    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """The prompt text: the benchmark's own (continued as is, or through the chat
        template with --chat), or for style "ours" the user message that the prompt renderer
        (`azr.tasks.prompts.PromptRenderer`, the one training uses) turns into model input."""

    def reasoning_prompt(self, style: PromptStyle = "benchmark") -> bool:
        """Whether `prompt(style)` is a user message for the reasoning renderer (R1 wrapper or
        chat template, primed inside `<think>`) rather than text to continue as is."""
        return style == "ours"

    def answer_block(self, problem: Problem, style: PromptStyle = "benchmark") -> str | None:
        """The fenced block a reasoning prompt's answer goes in (what `--answer-prefill` opens
        for the model); None: this benchmark's replies have none."""
        return None

    def stop(self, style: PromptStyle = "benchmark") -> tuple[str, ...]:
        """Stop strings for generation."""
        return ("</answer>",) if style == "ours" else ()

    @abstractmethod
    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """Turn a raw completion into a generation in the benchmark's own format."""

    @abstractmethod
    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """Correctness of every generation, shaped like `generations`."""

    def check_scoring(self, scoring: str) -> None:
        """Raise ValueError unless this benchmark offers `scoring`."""
        if scoring not in self.scorings:
            raise ValueError(
                f"benchmark {self.name} offers scoring {', '.join(self.scorings)}, not {scoring!r}"
            )


def read_records(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file, a JSON list, or a gzipped JSONL file; ValueError when malformed."""
    import gzip
    import json

    from azr.jsonl import read_jsonl

    if not path.exists():
        raise ValueError(f"data file {path} does not exist")
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    if not text.lstrip().startswith("["):
        return read_jsonl(text, name=str(path))
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: every record must be a JSON object")
    return records


def hub_records(dataset_id: str, split: str = "test") -> list[dict[str, Any]]:
    """Records of a hub dataset (for users with a hub; needs the `datasets` package)."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError(
            f"{dataset_id!r} is not a file, and loading hub datasets needs `pip install datasets`"
        ) from None
    return [dict(r) for r in datasets.load_dataset(dataset_id, split=split)]


def resolve_records(data: Path | None, default: Path | None, what: str) -> list[dict[str, Any]]:
    """Records from `data` (a file, or a hub id when no such file exists) or `default`."""
    if data is not None:
        if data.exists():
            return read_records(data)
        if "/" in str(data) and not str(data).startswith((".", "/")):
            return hub_records(str(data))
        raise ValueError(f"data file {data} does not exist")
    if default is None or not default.exists():
        raise ValueError(f"no bundled data for {what}; pass --data PATH")
    return read_records(default)


def take(problems: list[Problem], limit: int | None) -> list[Problem]:
    """The first `limit` problems (all when None)."""
    if limit is not None and limit < 0:
        raise ValueError("--limit must be >= 0")
    return problems if limit is None else problems[:limit]


_REGISTRY: dict[str, Callable[[], Benchmark]] = {}


def register(name: str, factory: Callable[[], Benchmark]) -> None:
    """Make a benchmark available under `name`."""
    _REGISTRY[name] = factory


def benchmark_names() -> list[str]:
    """Names of every registered benchmark."""
    _load_builtin()
    return sorted(_REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called `name`; ValueError listing the known ones otherwise."""
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(benchmark_names())})")
    return _REGISTRY[name]()


def _load_builtin() -> None:
    # Imported lazily so `azr --help` never pays for the benchmark modules.
    from azr.evaluate import codeio, cruxeval, humaneval, mathbench, selfplay  # noqa: F401
