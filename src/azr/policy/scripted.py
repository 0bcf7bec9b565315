"""`ScriptedPolicy`: canned completions for testing the loop, rewards and evaluation.

No torch. Completions come from a callable `(prompt, k) -> str` or a list cycled in order;
token ids are the UTF-8 bytes of the text (so lengths are realistic-ish and deterministic) and
log-probs are 0. `update` records every batch and returns simple metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from azr.policy.base import (
    Completion,
    GenerationProgress,
    Policy,
    ProgressFn,
    SamplingParams,
    UpdateBatch,
)

Script = Callable[[str, int], str] | Sequence[str]


def _cut(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut right after the earliest stop string."""
    ends = [text.find(s) + len(s) for s in stops if s and s in text]
    return (text[: min(ends)], True) if ends else (text, False)


class ScriptedPolicy(Policy):
    """A policy that answers from a script and remembers what it was asked and taught."""

    name = "scripted"

    def __init__(self, script: Script, *, template: str = "{}") -> None:
        self.script = script
        self.template = template
        self.calls = 0  # completions produced so far (the list cursor)
        self.prompts: list[str] = []
        self.batches: list[UpdateBatch] = []

    def _next(self, prompt: str, k: int) -> str:
        """The scripted text for this prompt and sample index."""
        if callable(self.script):
            return self.script(prompt, k)
        if not self.script:
            return ""
        return self.script[self.calls % len(self.script)]

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Return `n` scripted completions per prompt (stop strings and length applied);
        `progress` hears after every prompt."""
        sp = sampling or SamplingParams()
        out: list[list[Completion]] = []
        for prompt in prompts:
            self.prompts.append(prompt)
            row = []
            for k in range(n):
                text, stopped = _cut(self._next(prompt, k), sp.stop)
                self.calls += 1
                ids = list(text.encode())
                finish = "stop" if stopped or len(ids) <= sp.max_new_tokens else "length"
                if len(ids) > sp.max_new_tokens:
                    ids = ids[: sp.max_new_tokens]
                    text = bytes(ids).decode(errors="ignore")
                row.append(
                    Completion(
                        prompt=prompt,
                        text=text,
                        prompt_token_ids=list(prompt.encode()),
                        token_ids=ids,
                        logprobs=[0.0] * len(ids),
                        finish_reason=finish,
                    )
                )
            out.append(row)
            if progress is not None:
                progress(GenerationProgress(len(out) * n, len(prompts) * n))
        return out

    def update(self, batch: UpdateBatch) -> dict[str, float]:
        """Record the batch; report its size and mean advantage."""
        self.batches.append(batch)
        n = len(batch.samples)
        tokens = sum(len(s.completion.token_ids) for s in batch.samples)
        mean_adv = sum(s.advantage for s in batch.samples) / n if n else 0.0
        return {
            "loss": 0.0,
            "samples": float(n),
            "tokens": float(tokens),
            "mean_advantage": mean_adv,
            "time_s": 0.0,
        }

    def save(self, directory: Path) -> None:
        """Write the cursor and counts (enough to resume a scripted run deterministically)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"calls": self.calls, "updates": len(self.batches)}
        (directory / "scripted.json").write_text(json.dumps(state))

    def load(self, directory: Path) -> None:
        """Restore the cursor written by `save`."""
        state = json.loads((Path(directory) / "scripted.json").read_text())
        self.calls = int(state["calls"])

    def format_prompt(self, user_text: str) -> str:
        """Apply the configured template (identity by default)."""
        return self.template.format(user_text)
