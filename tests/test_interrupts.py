"""Ctrl-C keeps work (issue 18): the first SIGINT finishes the step or seeding round in flight
and saves it, a second stops at once; seeding commits round by round and `--resume` continues
after the last committed round. `kill -9` keeps its guarantees (test_train_resume.py).

The trainer runs in subprocesses: with the scripted oracle policy (fast, valid tasks), and as
`azr train` with the tiny random model. SIGINT comes from the test process at a point it sees
on stderr, or from the trainer itself at a named point (`AZR_SIGINT_AT`, azr.interrupts).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from azr.buffers import TaskStore
from azr.interrupts import StopRequest, sigint_blocked
from test_train_resume import check_invariants, read_jsonl

TESTS = Path(__file__).parent
STEPS = 4
ROUNDS = 3

# Like test_train_resume's script, with a StopRequest (as `azr train` passes one), progress on
# stderr and seeding that takes ROUNDS rounds (the buffers never fill).
SCRIPT = f"""
import json, sys, time
sys.path.insert(0, {str(TESTS)!r})
from pathlib import Path
from test_selfplay_helpers import fake_executor, fake_run_pairs, oracle_policy
from azr.config import resolve_config
from azr.interrupts import StopRequest
from azr.selfplay import train
from azr.selfplay.progress import Progress

try:
    from azr.sandbox import Executor  # noqa: F401
    factory = None
except ImportError:
    from azr.tasks import engine
    engine.run_pairs = fake_run_pairs
    factory = fake_executor

policy = oracle_policy()
inner = policy.generate
def slow_generate(*a, **k):
    time.sleep(float(sys.argv[3]))
    return inner(*a, **k)
policy.generate = slow_generate
cfg = resolve_config("test", None, [{{
    "run": {{"steps": int(sys.argv[2])}},
    "sampling": {{"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}},
    "selfplay": {{"seed_buffer_size": 100, "seed_max_rounds": {ROUNDS}, "buffer_cap": 1000}},
}}])
progress = Progress(interval=0.2)
stop = StopRequest(progress.info)
summary = train(cfg, Path(sys.argv[1]), resume=sys.argv[4] == "1", progress=progress,
                policy_factory=lambda c: policy, executor_factory=factory, stop=stop)
print(json.dumps({{"stopped": summary.stopped, "first": summary.first_step,
                  "last": summary.last_step}}))
"""


def launch(
    run: Path, *, resume: bool, delay: float = 0.0, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", SCRIPT, str(run), str(STEPS), str(delay)]
    args.append("1" if resume else "0")
    return subprocess.Popen(
        args,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    summary = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return proc.returncode, summary, err


def seed_rounds_logged(run: Path) -> list[int]:
    """The seeding round of every logged seeding proposal (prompt ids `0:r<round>:...`)."""
    return [
        int(s["prompt_id"].split(":")[1][1:])
        for s in read_jsonl(run / "samples.jsonl")
        if s["purpose"] == "seed"
    ]


# ------------------------------------------------------------------ the building blocks


def test_first_sigint_requests_a_stop_and_the_second_interrupts() -> None:
    said: list[str] = []
    stop = StopRequest(said.append)
    stop.doing = "step 7"
    before = signal.getsignal(signal.SIGINT)
    with stop.installed():
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        for _ in range(100):  # said from a thread
            if said:
                break
            time.sleep(0.01)
        assert said and "finishing step 7" in said[0] and "again" in said[0]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


CHILD = """
import signal, sys, time
signal.signal(signal.SIGINT, lambda *a: sys.exit(3))  # as vLLM's engine core does
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("blocked", [True, False])
def test_processes_started_with_sigint_blocked_ignore_a_terminal_ctrl_c(blocked: bool) -> None:
    """The vLLM engine is started this way: a Ctrl-C sent to the whole process group must not
    kill it while the trainer finishes its step. (Unblocked, the same child dies.)"""
    with sigint_blocked() if blocked else contextlib.nullcontext():
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert (child.poll() is None) is blocked
    finally:
        child.kill()
        child.wait()


def test_sigint_blocked_delivers_a_pending_ctrl_c_afterwards() -> None:
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: got.append(signum))
    try:
        with sigint_blocked():
            signal.raise_signal(signal.SIGINT)
            assert got == []
        assert got == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------ scripted trainer runs


def test_ctrl_c_during_a_step_finishes_and_checkpoints_it(tmp_path: Path) -> None:
    """SIGINT from outside while step 2 generates: step 2 is finished, committed and
    checkpointed, the run stops; --resume goes on with step 3, nothing lost or repeated."""
    run = tmp_path / "run"
    proc = launch(run, resume=False, delay=0.3)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "step 2: proposing: generating" in line:
            proc.send_signal(signal.SIGINT)
            break
    rc, summary, err = finish(proc)
    err = "".join(lines) + err
    assert rc == 0, err[-3000:]
    assert summary == {"stopped": "step 2", "first": 1, "last": 2}, err[-2000:]
    assert "Ctrl-C: finishing step 2 and saving it" in err
    assert "stopped after step 2: committed and checkpointed" in err
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2]
    assert (run / "checkpoints" / "step-000002" / "policy").is_dir()

    rc, summary, err = finish(launch(run, resume=True))
    assert rc == 0, err[-3000:]
    assert f"resuming {run} after step 2" in err
    assert summary == {"stopped": "", "first": 3, "last": STEPS}
    check_invariants(run, STEPS)


def test_ctrl_c_during_seeding_keeps_the_committed_rounds(tmp_path: Path) -> None:
    """SIGINT inside seeding round 2: round 2 is finished and committed, the run stops; resume
    continues with round 3 (rounds 1 and 2 are not redone), then trains."""
    run = tmp_path / "run"
    rc, summary, err = finish(launch(run, resume=False, env={"AZR_SIGINT_AT": "seed-round:2"}))
    assert rc == 0, err[-3000:]
    assert summary["stopped"] == "seeding round 2", err[-2000:]
    assert "Ctrl-C: finishing seeding round 2" in err
    assert "seeding round 2 (of at most 3): generating" in err
    assert sorted(set(seed_rounds_logged(run))) == [1, 2]
    store = TaskStore(run / "buffers.sqlite", create=False)
    try:
        assert store.seed_state() is not None and store.seed_state()["round"] == 2  # type: ignore[index]
        assert store.committed_steps() == []
    finally:
        store.close()

    rc, summary, err = finish(launch(run, resume=True))
    assert rc == 0, err[-3000:]
    assert "seeding continues after round 2" in err
    assert "seeding round 1 " not in err and "seeding round 2 " not in err
    assert "seeding round 3 (of at most 3)" in err
    rounds = seed_rounds_logged(run)
    assert sorted(set(rounds)) == [1, 2, 3]
    check_invariants(run, STEPS)


@pytest.mark.parametrize("crash", ["seed-after-commit:1", "seed-before-commit:2"])
def test_kill_during_seeding_loses_at_most_the_round_in_flight(tmp_path: Path, crash: str) -> None:
    run = tmp_path / "run"
    proc = launch(run, resume=False, env={"AZR_CRASH_AT": crash})
    rc, _, err = finish(proc)
    assert rc == -signal.SIGKILL, err[-2000:]
    rc, _, err = finish(launch(run, resume=True))
    assert rc == 0, err[-3000:]
    assert "seeding continues after round 1" in err
    assert "seeding round 1 " not in err
    check_invariants(run, STEPS)
    assert sorted(set(seed_rounds_logged(run))) == [1, 2, 3]


# ------------------------------------------------------------------ azr train, tiny model


def _azr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
    )


def _has_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox")
def test_azr_train_ctrl_c_in_an_update_then_twice(tmp_path: Path) -> None:
    """`azr train` (tiny model): Ctrl-C inside step 1's update keeps step 1 (exit 130, says
    how to continue); resumed with two Ctrl-C in step 2's update, step 2 is lost at once and
    the run is left at step 1, where the next resume starts (as after kill -9, whose resume
    test_train_resume.py checks)."""
    run = tmp_path / "t"
    small = ["--set", "selfplay.batch_size=1"]  # the smallest step: only the flow matters here
    base = ["train", "--preset", "test", "--model", "tiny-random", "--run-dir", str(run), *small]
    first = _azr(*base, "--steps", "2", env={"AZR_SIGINT_AT": "update:1"})
    assert first.returncode == 130, first.stderr[-3000:]
    assert first.stderr.splitlines()[0].startswith("azr train: model tiny-random")
    assert "Ctrl-C: finishing step 1 and saving it" in first.stderr
    assert "stopped by Ctrl-C after step 1 (saved); trained steps 1..1" in first.stdout
    assert f"continue with: azr train --run-dir {run} --resume" in first.stderr
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000001"]

    resume = ["train", "--run-dir", str(run), "--resume"]
    twice = _azr(*resume, env={"AZR_SIGINT_AT": "update:2,update:2"})
    assert twice.returncode == 130, twice.stderr[-3000:]
    assert f"resuming {run} after step 1" in twice.stderr
    assert "stopped by Ctrl-C" not in twice.stdout  # the second Ctrl-C stopped it at once
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1]

    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000001"]
    store = TaskStore(run / "buffers.sqlite", create=False)
    try:
        assert store.durable_step() == 1
    finally:
        store.close()


@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox")
def test_azr_train_seeding_resumed_after_ctrl_c_equals_seeding_in_one_go(tmp_path: Path) -> None:
    """The tiny model's seeding, stopped by Ctrl-C in round 1 and resumed, logs and stores
    exactly what seeding in one go does: no round lost, repeated or drawn differently."""
    sets = ["--set", "selfplay.seed_max_rounds=2", "--set", "selfplay.seed_buffer_size=50"]
    sets += ["--set", "selfplay.batch_size=1"]
    base = ["train", "--preset", "test", "--model", "tiny-random", "--steps", "0", *sets]
    whole = _azr(*base, "--run-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr[-3000:]
    cut = tmp_path / "cut"
    stopped = _azr(*base, "--run-dir", str(cut), env={"AZR_SIGINT_AT": "seed-round:1"})
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "stopped by Ctrl-C after seeding round 1 (saved)" in stopped.stdout
    resumed = _azr("train", "--run-dir", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "seeding continues after round 1" in resumed.stderr
    assert "seeding round 1 " not in resumed.stderr
    assert (cut / "samples.jsonl").read_text() == (tmp_path / "whole" / "samples.jsonl").read_text()

    def stored(run: Path) -> list[tuple[str, int, dict[str, Any]]]:
        store = TaskStore(run / "buffers.sqlite", create=False)
        try:
            return [
                (t, x.step, x.payload)
                for t in ("deduction", "abduction", "induction")
                for x in store.all_tasks(t)
            ]
        finally:
            store.close()

    assert stored(cut) == stored(tmp_path / "whole")


_GROUP_SCRIPT = r"""
import multiprocessing as mp, os, signal, sys, time
from azr.interrupts import own_process_group

def child(q):
    q.put(os.getpgrp())
    time.sleep(300)  # longer than any wait below: alive at the end means the Ctrl-C missed it

if __name__ == "__main__":
    own = sys.argv[1] == "own"
    # Started from a background job of a non-interactive shell (as CI may be), this process
    # inherits SIGINT ignored, and so would the child; a terminal's process would not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # nor blocked, whatever came before
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    if own:
        with own_process_group(sys.argv[2]):
            p = ctx.Process(target=child, args=(q,))
            p.start()
    else:
        p = ctx.Process(target=child, args=(q,))
        p.start()
    child_group = q.get(timeout=60)
    # This process plays the trainer, which handles the Ctrl-C. (Set after the start: an
    # ignored SIGINT would be inherited by the child and hide the control's death.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.killpg(os.getpgrp(), signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
    # A dying child returns at once; a loaded machine may take seconds to end it.
    p.join(3 if own else 60)
    print(child_group != os.getpgrp(), p.is_alive())
    p.kill()
"""


@pytest.mark.parametrize("own", [True, False])
def test_spawned_helpers_in_their_own_group_survive_a_terminal_ctrl_c(
    tmp_path: Path, own: bool
) -> None:
    """The vLLM engine is spawned by multiprocessing; started inside `own_process_group` it
    is out of the terminal's process group and a Ctrl-C sent to that group does not kill it.
    Without it (the control) the same Ctrl-C kills the spawned child."""
    script = tmp_path / "group.py"
    script.write_text(_GROUP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run(
        [sys.executable, str(script), "own" if own else "shared", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        start_new_session=True,  # the group the script signals is its own, not pytest's
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == (["True", "True"] if own else ["False", "False"])
