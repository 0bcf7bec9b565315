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

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from azr.config import TrainConfig
from azr.evaluate.passk import bootstrap_ci, mean_pass_at_k
from azr.jsonl import read_jsonl
from azr.policy.base import Policy, SamplingParams
from azr.tasks import engine
from azr.tasks.model import Triplet
from azr.tasks.types import get

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
    rows = read_jsonl(path)
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
    t0 = time.perf_counter()
    sp = _selfplay(cfg, policy, executor, seed)
    s = cfg.sampling
    params = SamplingParams(temperature=s.temperature, top_p=s.top_p, seed=seed)
    # Solver prompts: held-out tasks of every type, then the CRUXEval problems (deduction).
    items: list[tuple[str, str, Any]] = [  # (key, task type, task)
        (r["task_type"], r["task_type"], get(r["task_type"]).from_dict(r["task"])) for r in heldout
    ]
    items += [("cruxeval-o", "deduction", t) for t in crux]
    log(f"solving: {len(items)} prompts x {n} samples")
    solve_params = replace(params, max_new_tokens=s.solver_max_new_tokens)
    result: dict[str, Any] = {"n": n, **_solver_part(sp, executor, items, n, solve_params)}
    by_type: dict[str, list[Any]] = {}
    for _, tt, task in items[: len(heldout)]:
        by_type.setdefault(tt, []).append(task)
    propose_params = replace(params, max_new_tokens=s.proposer_max_new_tokens)
    result["proposer"] = _proposer_part(
        sp, executor, by_type, proposals_per_type, seed, propose_params, log
    )
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _solver_part(
    sp: Any, executor: Any, items: list[tuple[str, str, Any]], n: int, params: SamplingParams
) -> dict[str, Any]:
    """Sample n answers per item, grade them in one batch, and count per set."""
    inputs = [sp.solver_input(get(tt), task) for _, tt, task in items]
    outs = sp.generator.generate([p for p, _ in inputs], n=n, sampling=params)
    from azr.selfplay.rollout import graded_text

    closes = sp.cfg.selfplay.end_closes_answer  # graded as training grades
    flat = [
        (tt, task, graded_text(c, closes, prefill))
        for (_, tt, task), (_, prefill), comps in zip(items, inputs, outs, strict=True)
        for c in comps
    ]
    grades = engine.grade_mixed(executor, flat)
    counts: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {}
    samples: list[dict[str, Any]] = []
    for i, (key, tt, _) in enumerate(items):
        g = grades[i * n : (i + 1) * n]
        ns, cs, fs, xs = counts.setdefault(key, ([], [], [], []))
        ns.append(len(g))
        cs.append(sum(bool(x.correct) for x in g))
        fs.append(sum(bool(x.format_ok) for x in g))
        shown = get(tt).example_answers
        xs.append(sum((x.answer or "").strip() in shown and not x.correct for x in g))
        samples += [
            {
                "set": key,
                "item": i,
                "text": inputs[i][1] + outs[i][k].text,
                "correct": x.correct,
                "reason": x.reason,
            }
            for k, x in enumerate(g)
        ]
    solver = {
        key: {
            "format_rate": _ci(ns, fs),
            "solve_rate": _ci(ns, cs),
            "example_copy_rate": _ci(ns, xs),
            "pass_at_k": {str(k): v for k, v in mean_pass_at_k(ns, cs, range(1, n + 1)).items()},
        }
        for key, (ns, cs, fs, xs) in counts.items()
    }
    return {"solver": solver, "samples": samples}


def _proposer_part(
    sp: Any,
    executor: Any,
    by_type: dict[str, list[Any]],
    per_type: int,
    seed: int,
    params: SamplingParams,
    log: Log,
) -> dict[str, Any]:
    """Proposer prompts of the run's types whose context tasks are drawn (with a fixed seed)
    from the held-out tasks; format, validity and worked-example copies per type."""
    from azr.selfplay.rollout import graded_text

    rng = np.random.default_rng(seed)
    types = [get(t) for t in sp.types]
    triplets = [x for tasks in by_type.values() for x in tasks if isinstance(x, Triplet)]
    prompts: list[tuple[str, str, list[Any]]] = []  # (type, prompt, context)
    for spec in types:
        sources, k = spec.context_sources(sp.settings)
        pool = [x for t in sources for x in by_type.get(t, [])] or triplets
        for _ in range(per_type if pool else 0):
            context = [pool[int(i)] for i in rng.integers(len(pool), size=k)]
            prompts.append(
                (spec.name, sp.render(spec.proposer_prompt(context, sp.settings)), context)
            )
    log(f"proposing: {len(prompts)} prompts")
    outs = sp.generator.generate([p[1] for p in prompts], n=1, sampling=params)
    out: dict[str, Any] = {}
    for spec in types:
        idx = [i for i, p in enumerate(prompts) if p[0] == spec.name]
        if not idx:
            continue
        texts = [graded_text(outs[i][0], sp.cfg.selfplay.end_closes_answer) for i in idx]
        res = engine.validate_batch(
            executor, spec.name, texts, [prompts[i][2] for i in idx], sp.settings
        )
        ones = [1] * len(res)
        out[spec.name] = {
            "example_copy_rate": _ci(ones, [int("worked example" in r.reason) for r in res]),
            "format_rate": _ci(ones, [int(r.format_ok) for r in res]),
            "valid_rate": _ci(ones, [int(r.valid) for r in res]),
        }
    return out
