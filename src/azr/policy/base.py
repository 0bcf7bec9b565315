"""The `Policy` interface: generate completions, take policy-gradient steps, save and load.

Kept free of torch so the core (tasks, rewards, the loop's bookkeeping) imports fast and the
scripted test policy needs no deep-learning stack.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


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


@dataclass
class UpdateSample:
    """A completion with its scalar advantage (broadcast over its tokens)."""

    completion: Completion
    advantage: float


@dataclass
class UpdateBatch:
    """Everything one policy update consumes."""

    samples: list[UpdateSample]
    # Tokens the token-mean loss divides by; None = the samples' own completion tokens. The loop
    # counts responses left out of the update (zero advantage) here, so the gradient is as if
    # they were included.
    norm_tokens: int | None = None


class Policy(ABC):
    """A trainable text policy. Implementations: `hf.HFPolicy`, `scripted.ScriptedPolicy`."""

    name: str = "policy"

    @abstractmethod
    def generate(
        self, prompts: Sequence[str], n: int = 1, sampling: SamplingParams | None = None
    ) -> list[list[Completion]]:
        """Sample `n` completions for each prompt; result[i] holds prompt i's completions."""

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

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, devices)."""
