"""The rollout/learner seam: `Generator`, `Learner`, and `Policy`, which is both.

The loop asks a `Generator` for completions (with token ids and log-probs) and a `Learner`
for policy-gradient steps and checkpoints. The embedded backend (`hf.HFPolicy`) and the test
policy (`scripted.ScriptedPolicy`) are `Policy`s: one object that is both, sampling from the
weights it trains. A separate generator plugs in by implementing `Generator`: a vLLM or
SGLang engine would `generate` through its server and, in `sync_from(learner)`, load the
learner's new weights (e.g. from the learner's saved state or a weight-transfer hook); a veRL
learner implements `Learner` around its FSDP actor (see `integrations/verl`). `SelfPlay`
takes the learner as its policy and an optional separate generator, and calls
`generator.sync_from(learner)` after every update.

Kept free of torch so the core (tasks, rewards, the loop's bookkeeping) imports fast and the
scripted test policy needs no deep-learning stack.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    """How to sample: temperature 0 means greedy."""

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ("</answer>",)
    seed: int | None = None


@dataclass
class Completion:
    """One sampled continuation of a prompt, with what the update needs to score it again."""

    prompt: str
    text: str
    prompt_token_ids: list[int] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: str = "stop"  # "stop" (hit a stop string or EOS) or "length"


@dataclass(frozen=True)
class GenerationProgress:
    """How far one `generate` call has got, as a generator reports it while it runs."""

    done: int  # responses finished
    total: int  # responses asked for (prompts x n)
    # The share of the call's worst case already done (every response running to
    # max_new_tokens), for a generator that can tell (the embedded sampler, per decoding step);
    # None for one that only sees finished responses (vLLM). The time left is then at most
    # about elapsed * (1 - worst_case) / worst_case.
    worst_case: float | None = None


# Called from inside `generate` (in the calling thread) as responses finish; must be cheap.
ProgressFn = Callable[[GenerationProgress], None]


def takes_progress(generator: object) -> bool:
    """Whether `generator.generate` accepts the `progress` keyword (every generator in azr
    does; one written elsewhere may not, and is then called without it)."""
    try:
        return "progress" in inspect.signature(generator.generate).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False


@dataclass
class UpdateSample:
    """A completion with its scalar advantage (broadcast over its tokens)."""

    completion: Completion
    advantage: float
    # A label (e.g. the role that wrote it): a policy that can, reports per-label statistics
    # of the update (`HFPolicy`: the entropy of each label's tokens, "entropy_<group>").
    group: str = ""


@dataclass
class UpdateBatch:
    """Everything one policy update consumes."""

    samples: list[UpdateSample]
    # Tokens the token-mean loss divides by; None = the samples' own completion tokens. The loop
    # counts responses left out of the update (zero advantage) here, so the gradient is as if
    # they were included.
    norm_tokens: int | None = None


@runtime_checkable
class Generator(Protocol):
    """Samples completions; can be brought up to date with a learner's weights."""

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Sample `n` completions for each prompt, with token ids and log-probs; `progress`,
        when given, hears how many responses are done while the call runs."""
        ...

    def format_prompt(self, user_text: str) -> str:
        """The model's chat template around a user message."""
        ...

    def sync_from(self, learner: Learner) -> None:
        """Make the next `generate` use `learner`'s current weights."""
        ...


@runtime_checkable
class Learner(Protocol):
    """Takes policy-gradient steps on scored completions; saves and restores its state."""

    def update(self, batch: UpdateBatch) -> dict[str, float]:
        """One policy-gradient step; metrics (loss, grad norm, ...)."""
        ...

    def save(self, directory: Path) -> None:
        """Write weights, optimiser and RNG state to `directory`."""
        ...

    def load(self, directory: Path) -> None:
        """Restore exactly what `save` wrote."""
        ...


class Policy(ABC):
    """A `Generator` and a `Learner` in one object, sampling from the weights it trains.

    Implementations: `hf.HFPolicy`, `scripted.ScriptedPolicy`.
    """

    name: str = "policy"

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Sample `n` completions for each prompt; result[i] holds prompt i's completions;
        `progress` (optional) is told how many are done as they finish."""

    @abstractmethod
    def update(self, batch: UpdateBatch) -> dict[str, float]:
        """Take one policy-gradient step on `batch`; return metrics (loss, grad norm, ...)."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write weights, optimiser and RNG state to `directory`."""

    @abstractmethod
    def load(self, directory: Path) -> None:
        """Restore exactly what `save` wrote."""

    def format_prompt(self, user_text: str) -> str:
        """Wrap a user message the way this policy's model expects (identity by default)."""
        return user_text

    def sync_from(self, learner: Learner) -> None:
        """Nothing to do for itself (it samples from what it trains, refreshing any sampling
        copy after each update); another learner's weights need a real generator."""
        if learner is not self:
            raise NotImplementedError(
                f"{type(self).__name__} samples from its own weights; it cannot load another "
                "learner's"
            )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, devices)."""
