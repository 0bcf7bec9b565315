"""Fixed-seed behaviour of a source tree: two short runs whose logs must not change when a
refactor is meant to keep behaviour (issue 20: the open task model).

    python benchmarks/fixed_seed.py record OUT_DIR [--tree DIR]
    python benchmarks/fixed_seed.py compare --base REV [--head REV]

`record` trains, with the tree's own code (`DIR/src` and `DIR/tests` on PYTHONPATH):
- `tiny`: `azr train --preset test --model tiny-random --steps 2` (the randomly initialised
  model: every reply is ill formed, so it covers prompts, parsing, rewards and the update);
- `oracle`: 3 steps of the scripted oracle policy of `tests/test_selfplay_helpers.py` on the
  real sandbox (valid proposals of every shipped type, answers right about half the time: it
  covers validation, dedup, grading and buffers);
then writes each run's `metrics.jsonl` and `samples.jsonl` with the timing fields removed
(`OUT_DIR/<run>.metrics.jsonl`, `OUT_DIR/<run>.samples.jsonl`).

`compare` checks out `--base` (and `--head`, default: this working tree) in temporary git
worktrees, records both and prints whether every file is byte-identical; exit status 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Fields that measure time (they differ between any two runs).
TIMING_PREFIXES = ("time/",)
TIMING_KEYS = frozenset({"update/time_s", "update/gflop_per_s"})

ORACLE_RUN = """
import sys
from pathlib import Path
from azr.config import parse_assignment, resolve_config
from azr.selfplay import train
from azr.selfplay.progress import Progress
from test_selfplay_helpers import oracle_policy

sets = ["selfplay.batch_size=3", "selfplay.seed_buffer_size=3", "selfplay.seed_max_rounds=3"]
layers = [{"run": {"steps": 3},
           "sampling": {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}}]
layers += [parse_assignment(s) for s in sets]
cfg = resolve_config("test", None, layers)
policy = oracle_policy()
train(cfg, Path(sys.argv[1]), progress=Progress(quiet=True), policy_factory=lambda _c: policy)
"""


def strip_timing(record: dict[str, object]) -> dict[str, object]:
    """`record` without its timing fields."""
    return {
        k: v
        for k, v in record.items()
        if k not in TIMING_KEYS and not k.startswith(TIMING_PREFIXES)
    }


def normalised(path: Path) -> str:
    """A JSONL file's lines without timing fields, as text."""
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return "".join(json.dumps(strip_timing(x)) + "\n" for x in lines)


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "src"), str(tree / "tests")])
    return env


def record(out: Path, tree: Path) -> None:
    """Run both fixed-seed runs with `tree`'s code and write their normalised logs to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        tiny = [sys.executable, "-m", "azr.cli", "train", "--preset", "test"]
        tiny += ["--model", "tiny-random", "--steps", "2", "--run-dir", str(runs / "tiny")]
        oracle = [sys.executable, "-c", ORACLE_RUN, str(runs / "oracle")]
        for cmd in (tiny, oracle):
            subprocess.run(cmd, env=_env(tree), check=True, cwd=tmp, capture_output=True)
        for name in ("tiny", "oracle"):
            for log in ("metrics", "samples"):
                text = normalised(runs / name / f"{log}.jsonl")
                (out / f"{name}.{log}.jsonl").write_text(text)


def _worktree(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    return where


def compare(base: str, head: str | None) -> int:
    """Record `base` and `head` (or this tree) and report differences; 0 when identical."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        trees = [_worktree(base, t / "base")]
        trees.append(_worktree(head, t / "head") if head else ROOT)
        try:
            for name, tree in zip(("base", "head"), trees, strict=True):
                record(t / f"out-{name}", tree)
        finally:
            for tree in trees:
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                        capture_output=True,
                    )
        differ = []
        for f in sorted(p.name for p in (t / "out-base").iterdir()):
            a, b = (t / "out-base" / f).read_text(), (t / "out-head" / f).read_text()
            lines = a.count("\n")
            same = a == b
            print(f"{f}: {lines} lines, {'identical' if same else 'DIFFERENT'}")
            if not same:
                differ.append(f)
        print(
            f"base {base} vs head {head or 'working tree'}: "
            + ("byte-identical modulo timing fields" if not differ else f"differ: {differ}")
        )
        return 1 if differ else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--tree", type=Path, default=ROOT)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("--base", required=True)
    cmp_.add_argument("--head", default=None)
    args = ap.parse_args()
    if args.cmd == "record":
        record(args.out, args.tree.resolve())
        return 0
    return compare(args.base, args.head)


if __name__ == "__main__":
    sys.exit(main())
