"""Progress that answers "how long?" (issue 18): every generation call shows responses done of
total, the elapsed time and an estimate of the time left, in a log file as well as on a
terminal; each generator feeds it (the embedded sampler per decoding step, vLLM per finished
request, the scripted policy per prompt); `azr train` names its run directory before the model
loads."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from azr.policy.base import GenerationProgress, SamplingParams, takes_progress
from azr.policy.scripted import ScriptedPolicy
from azr.selfplay.progress import Progress, duration, estimate_left


def test_durations_read_well() -> None:
    assert [duration(s) for s in (0.4, 45, 65, 600, 3725)] == [
        "0s",
        "45s",
        "1m05s",
        "10m00s",
        "1h02m",
    ]


def test_estimates() -> None:
    assert estimate_left(10, 0, 12) == ""  # nothing known yet
    assert estimate_left(60, 3, 12) == "about 3m00s left"  # the pace so far
    assert estimate_left(60, 0, 12, worst_case=0.25) == "at most 3m00s left"  # a bound only
    # The pace guess is kept when under the bound, else the bound is shown.
    assert estimate_left(60, 6, 12, worst_case=0.25) == "about 1m00s left"
    assert estimate_left(60, 1, 12, worst_case=0.5) == "at most 1m00s left"
    # The previous call's pace (seconds per response) beats the current one's.
    assert estimate_left(30, 1, 12, rate=10.0) == "about 1m30s left"
    # The last tenth (at least one) of a call without a bound: named, not timed (the tail
    # holds the longest replies, so a pace-based time is wrong there).
    assert estimate_left(200, 11, 12, rate=10.0) == "last 1 running"
    assert estimate_left(40, 27, 28) == "last 1 running"
    assert estimate_left(40, 90, 100) == "last 10 running"
    assert estimate_left(40, 89, 100) == "about 5s left"
    assert estimate_left(40, 27, 28, worst_case=0.9) == "about 1s left"  # a bound: timed


def _log_progress(interval: float) -> tuple[Progress, io.StringIO]:
    """A Progress writing to a string as it would to a log file (not a terminal)."""
    progress = Progress(interval=interval)
    buf = io.StringIO()
    progress.console = Console(file=buf, width=120, highlight=False, force_terminal=False)
    return progress, buf


def test_a_generation_in_a_log_file_shows_counts_elapsed_and_time_left() -> None:
    progress, buf = _log_progress(interval=0.1)
    with progress.generation("seeding round 1 (of at most 5)", 4, kind="p") as report:
        for done in range(1, 5):
            time.sleep(0.25)
            report(GenerationProgress(done, 4))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "  seeding round 1 (of at most 5): generating 4 responses"
    middle = [ln for ln in lines[1:-1] if "/4 responses" in ln]
    assert middle, lines
    assert any("about" in ln and "left" in ln for ln in middle), lines
    assert lines[-1].startswith("  seeding round 1 (of at most 5): 4 responses in ")
    # The next call of the same kind starts with an estimate from this one's pace.
    assert progress.rates["p"] > 0.2
    buf.truncate(0)
    buf.seek(0)
    with progress.generation("seeding round 2 (of at most 5)", 4, kind="p"):
        time.sleep(0.35)
    assert "0/4 responses, 0s, about" in buf.getvalue()  # an estimate before any finished


def test_log_lines_are_throttled_and_quiet_prints_nothing() -> None:
    progress, buf = _log_progress(interval=30)
    with progress.generation("step 1: proposing", 3) as report:
        for done in range(1, 4):
            report(GenerationProgress(done, 3))
            time.sleep(0.05)
    assert len(buf.getvalue().splitlines()) == 2  # start and end: nothing in between
    progress, buf = _log_progress(interval=0.05)
    progress.quiet = True
    with progress.generation("step 1: proposing", 3), progress.phase("step 1: updating"):
        time.sleep(0.2)
    assert buf.getvalue() == ""


def test_every_phase_shows_its_elapsed_time() -> None:
    progress, buf = _log_progress(interval=0.1)
    with progress.phase("step 1: updating on 8 responses"):
        time.sleep(0.35)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "  step 1: updating on 8 responses"
    assert any(ln.startswith("  step 1: updating on 8 responses, 0s") for ln in lines[1:]), lines


def test_scripted_policy_reports_per_prompt() -> None:
    policy = ScriptedPolicy(["a", "b"])
    seen: list[GenerationProgress] = []
    assert takes_progress(policy)
    policy.generate(["p1", "p2", "p3"], n=2, progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(2, 6), (4, 6), (6, 6)]


def test_a_generator_without_the_keyword_is_called_without_it() -> None:
    class Plain:
        def generate(self, prompts: Any, n: int = 1, sampling: Any = None) -> Any:
            return []

    assert not takes_progress(Plain())


def test_embedded_sampler_reports_every_decoding_step() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from azr.policy.hf import create_policy

    policy = create_policy("tiny-random", device="cpu", gen_batch_size=4)
    seen: list[GenerationProgress] = []
    sp = SamplingParams(max_new_tokens=6, seed=1, stop=())
    out = policy.generate(["a b c", "hello", "x"], n=2, sampling=sp, progress=seen.append)
    assert sum(len(r) for r in out) == 6
    # Two batches (4 + 2 rows) of 6 decoding steps each; no stop string, so every row runs
    # to the limit and the worst case is exact.
    assert len(seen) == 12
    assert all(p.total == 6 for p in seen)
    worst = [p.worst_case or 0.0 for p in seen]
    assert worst == sorted(worst) and worst[-1] == pytest.approx(1.0)
    assert seen[5].done == 4 and seen[-1].done == 6
    assert [p.done for p in seen] == sorted(p.done for p in seen)


VLLM_HOOK = """
from vllm.entrypoints.common.offline import OfflineInferenceMixin
from vllm.outputs import CompletionOutput, RequestOutput
from azr.policy.engine import _FinishedRequests

class Engine:  # stands in for vLLM's engine: three requests, finishing one per step
    def __init__(self):
        self.left = 3
    def get_num_unfinished_requests(self):
        return self.left
    def has_unfinished_requests(self):
        return self.left > 0
    def step(self):
        self.left -= 1
        out = CompletionOutput(0, "x", [1, 2], None, None, finish_reason="stop")
        return [RequestOutput(str(2 - self.left), "p", [5, 6, 7], None, [out], True)]

class LLM:
    llm_engine = Engine()

seen = []
outs = OfflineInferenceMixin._run_engine(
    LLM(), RequestOutput, use_tqdm=_FinishedRequests.factory(seen.append)
)
print([(p.done, p.total, p.worst_case) for p in seen], len(outs))
"""


def test_vllm_progress_hook_is_fed_by_vllms_own_engine_loop() -> None:
    """`VLLMGenerator.generate` passes vLLM a stand-in for its tqdm bar; vLLM's real loop
    (`_run_engine`, with a fake engine: no model is started) updates it per finished request."""
    pytest.importorskip("vllm")
    proc = subprocess.run(
        [sys.executable, "-c", VLLM_HOOK], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[(1, 3, None), (2, 3, None), (3, 3, None)] 3"


def test_vllm_progress_hook_takes_both_of_vllms_calls() -> None:
    """vLLM calls `use_tqdm` two ways: around the prompts it adds (`f(iterable, desc=...)`,
    handed back untouched) and for the bar of finished requests (`f(total=...)`)."""
    from azr.policy.engine import _FinishedRequests

    seen: list[GenerationProgress] = []
    make = _FinishedRequests.factory(seen.append)
    prompts = [{"prompt_token_ids": [1]}, {"prompt_token_ids": [2]}]
    assert make(prompts, desc="Adding requests") is prompts
    bar = make(total=2, desc="Processed prompts", dynamic_ncols=True, postfix="")
    bar.update(1)
    bar.update(1)
    bar.refresh()
    bar.close()
    assert [(p.done, p.total) for p in seen] == [(1, 2), (2, 2)]


# ------------------------------------------------------------ the run directory comes first


def test_the_run_directory_is_announced_before_the_model_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azr.commands.train_checks import announcing_executor
    from azr.config import resolve_config
    from azr.selfplay import train
    from azr.tasks import engine
    from test_selfplay_helpers import fake_executor, fake_run_pairs, oracle_policy

    events: list[str] = []

    def policy_factory(_cfg: Any) -> Any:
        events.append("model loaded")
        return oracle_policy()

    @contextlib.contextmanager
    def executor(cfg: Any) -> Iterator[Any]:
        with fake_executor(cfg) as ex:
            yield ex

    monkeypatch.setattr(engine, "run_pairs", fake_run_pairs)
    cfg = resolve_config("test", None, [{"run": {"steps": 0}, "selfplay": {"seed_max_rounds": 0}}])
    train(
        cfg,
        tmp_path / "run",
        progress=Progress(quiet=True),
        policy_factory=policy_factory,
        executor_factory=announcing_executor(executor, lambda: events.append("header")),
    )
    assert events == ["header", "model loaded"]


def test_no_tensorboard_file_until_a_step_is_logged(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from azr.tracking import TensorBoardBackend

    tb = TensorBoardBackend(tmp_path / "tb", "model: {}")
    tb.close()  # an interrupted run: nothing logged
    assert not (tmp_path / "tb").exists() or not any((tmp_path / "tb").iterdir())
