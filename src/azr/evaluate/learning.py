"""Base-vs-trained measurement of self-play learning (`benchmarks/learning.py`).

Everything is rendered exactly as training renders it (`SelfPlay.render`: the model's chat
template, primed inside `<think>`), graded by the same engine, and sampled at the training
temperature with fixed seeds, so a base model and its trained checkpoints see the same prompts:

- a **held-out set** of self-play tasks proposed by the *base* model from the identity seed and
  validated in the sandbox (`build_heldout`), saved once and reused for every evaluation;
- **solver** rates per task type on the held-out set: format-ok rate and solve rate (pass@1 and
  pass@k from n samples per task), with percentile-bootstrap 95 % CIs over tasks;
- **proposer** rates per task type: format-ok and valid-proposal rates of proposals written for
  fixed prompts (references drawn from the held-out set), bootstrap CIs over prompts;
- **CRUXEval-O** on a fixed subset, posed as deduction tasks with the training prompt and graded
  strictly (the answer must be the gold output as a literal of the same type).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from azr.config import TrainConfig
from azr.evaluate.passk import bootstrap_ci, mean_pass_at_k
from azr.policy.base import Policy, SamplingParams
from azr.tasks import engine
from azr.tasks.model import TaskType, Triplet
from azr.tasks.prompts import proposer_prompt, solver_prompt

TYPES = ("deduction", "abduction", "induction")
# The answers of the solver prompts' worked replies: a reply that gives one of these copied the
# example (a well-formed reply at no effort, which Eq. 6 rewards with -0.5 instead of -1).
EXAMPLE_ANSWERS = {
    "deduction": "[2, 10]",
    "abduction": "7",
    "induction": "def f(x):\n    return x * 3",
}
Log = Callable[[str], None]


def _selfplay(cfg: TrainConfig, policy: Policy, executor: Any, seed: int) -> Any:
    """A `SelfPlay` used for its renderer and seeding only (an in-memory task store)."""
    from azr.buffers import TaskStore
    from azr.selfplay.loop import SelfPlay

    store = TaskStore(Path(":memory:"))  # seeding keeps its pool in memory; nothing is stored
    return SelfPlay(cfg, policy, executor, store, np.random.default_rng(seed))


def build_heldout(
    cfg: TrainConfig, policy: Policy, executor: Any, per_type: int, rounds: int, seed: int = 1234
) -> list[dict[str, Any]]:
    """Tasks the (base) policy proposes from the identity seed, validated and deduplicated:
    up to `per_type` per task type after at most `rounds` proposal rounds (the identity seeds
    themselves are left out)."""
    cfg = cfg.model_copy(deep=True)
    cfg.selfplay.seed_buffer_size = per_type + 1
    cfg.selfplay.seed_max_rounds = rounds
    cfg.selfplay.batch_size = max(cfg.selfplay.batch_size, 8)
    sp = _selfplay(cfg, policy, executor, seed)
    result = sp.seed()
    identity = {(n.task_type, n.key) for n in sp.identity_seeds()}
    return [
        {"task_type": n.task_type.value, "task": n.payload}
        for n in result.new_tasks
        if (n.task_type, n.key) not in identity
    ]


def _ci(ns: Sequence[int], cs: Sequence[int], k: int = 1) -> dict[str, float]:
    """Mean pass@k (a rate for k = 1) and its bootstrap 95 % CI over items."""
    if not ns:
        return {"value": float("nan"), "lo": float("nan"), "hi": float("nan"), "items": 0}
    value = mean_pass_at_k(ns, cs, [k])[k]
    lo, hi = bootstrap_ci(ns, cs, [k], resamples=2000)[k]
    return {"value": value, "lo": lo, "hi": hi, "items": len(ns)}


def load_cruxeval(path: Path, limit: int, seed: int = 0) -> list[Triplet]:
    """A fixed random subset of CRUXEval problems as deduction triplets."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pick = np.random.default_rng(seed).permutation(len(rows))[:limit]
    return [Triplet(rows[i]["code"], rows[i]["input"], rows[i]["output"]) for i in sorted(pick)]


def evaluate(
    cfg: TrainConfig,
    policy: Policy,
    executor: Any,
    heldout: list[dict[str, Any]],
    crux: list[Triplet],
    *,
    n: int,
    proposals_per_type: int,
    seed: int = 7,
    log: Log = lambda _m: None,
) -> dict[str, Any]:
    """Solver, proposer and CRUXEval-O figures of `policy` (see the module docstring)."""
    from azr.selfplay.records import as_triplet, task_from_payload

    t0 = time.perf_counter()
    sp = _selfplay(cfg, policy, executor, seed)
    s = cfg.sampling
    params = SamplingParams(temperature=s.temperature, top_p=s.top_p, seed=seed)
    # Solver prompts: held-out tasks of every type, then the CRUXEval problems (deduction).
    items: list[tuple[str, str, Any]] = []  # (key, task type, task)
    for row in heldout:
        items.append(
            (row["task_type"], row["task_type"], task_from_payload(row["task_type"], row["task"]))
        )
    items += [("cruxeval-o", "deduction", t) for t in crux]
    prompts = [sp.render(solver_prompt(tt, task)) for _, tt, task in items]
    log(f"solving: {len(prompts)} prompts x {n} samples")
    outs = policy.generate(
        prompts,
        n=n,
        sampling=SamplingParams(**{**params.__dict__, "max_new_tokens": s.solver_max_new_tokens}),
    )
    flat = [
        (TaskType(tt), task, c.text)
        for (_, tt, task), comps in zip(items, outs, strict=True)
        for c in comps
    ]
    grades = engine.grade_mixed(executor, flat, True)
    result: dict[str, Any] = {"n": n, "solver": {}, "proposer": {}}
    counts: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {}
    samples: list[dict[str, Any]] = []
    for i, (key, tt, _) in enumerate(items):
        g = grades[i * n : (i + 1) * n]
        ns, cs, fs, xs = counts.setdefault(key, ([], [], [], []))
        ns.append(len(g))
        cs.append(sum(bool(x.correct) for x in g))
        fs.append(sum(bool(x.format_ok) for x in g))
        xs.append(sum((x.answer or "").strip() == EXAMPLE_ANSWERS[tt] for x in g))
        for k, x in enumerate(g):
            samples.append(
                {
                    "set": key,
                    "item": i,
                    "text": outs[i][k].text,
                    "correct": x.correct,
                    "reason": x.reason,
                }
            )
    result["samples"] = samples
    for key, (ns, cs, fs, xs) in counts.items():
        result["solver"][key] = {
            "format_rate": _ci(ns, fs),
            "solve_rate": _ci(ns, cs),
            "example_copy_rate": _ci(ns, xs),
            "pass_at_k": {str(k): v for k, v in mean_pass_at_k(ns, cs, range(1, n + 1)).items()},
        }
    # Proposer prompts: references drawn (with a fixed seed) from the held-out tasks.
    rng = np.random.default_rng(seed)
    by_type = {
        t: [task_from_payload(t, r["task"]) for r in heldout if r["task_type"] == t] for t in TYPES
    }
    triplets = [as_triplet(x) for t in ("deduction", "abduction") for x in by_type[t]]
    gens: list[tuple[str, str, list[Triplet] | Triplet]] = []
    sc = cfg.selfplay
    for t in TYPES:
        for _ in range(proposals_per_type if triplets else 0):
            if t == "induction":
                prog = triplets[int(rng.integers(len(triplets)))]
                text = proposer_prompt(
                    t,
                    [],
                    n_inputs=sc.induction_inputs,
                    program_for_induction=prog,
                    timeout_s=cfg.executor.timeout_s,
                )
                gens.append((t, sp.render(text), prog))
            else:
                pool = by_type[t] or [as_triplet(x) for x in by_type["deduction"]]
                refs = [
                    as_triplet(pool[int(i)]) for i in rng.integers(len(pool), size=sc.references)
                ]
                text = proposer_prompt(t, refs, timeout_s=cfg.executor.timeout_s)
                gens.append((t, sp.render(text), refs))
    log(f"proposing: {len(gens)} prompts")
    pouts = policy.generate(
        [g[1] for g in gens],
        n=1,
        sampling=SamplingParams(**{**params.__dict__, "max_new_tokens": s.proposer_max_new_tokens}),
    )
    for t in TYPES:
        idx = [i for i, g in enumerate(gens) if g[0] == t]
        if not idx:
            continue
        texts = [pouts[i][0].text for i in idx]
        if t == "induction":
            res = engine.validate_proposals(
                executor,
                t,
                texts,
                n_inputs=sc.induction_inputs,
                n_visible=sc.induction_visible,
                induction_programs=[gens[i][2] for i in idx],  # type: ignore[misc]
            )
        else:
            refs_all = {(r.program, r.input): r for i in idx for r in gens[i][2]}  # type: ignore[union-attr]
            res = engine.validate_proposals(executor, t, texts, list(refs_all.values()))
        ones = [1] * len(res)
        copies = [int("worked example" in r.reason) for r in res]
        result["proposer"][t] = {
            "example_copy_rate": _ci(ones, copies),
            "format_rate": _ci(ones, [int(r.format_ok) for r in res]),
            "valid_rate": _ci(ones, [int(r.valid) for r in res]),
        }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result
