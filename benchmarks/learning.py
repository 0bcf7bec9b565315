"""Base vs trained: does self-play make the model better? (issue 9; library: azr.evaluate.learning)

    # 1. a fixed held-out set of self-play tasks proposed by the BASE model (once per study)
    python3 benchmarks/learning.py heldout --preset cpu-qwen --out study/
    # 2. evaluate the base model and checkpoints of a run (same prompts, seeds and grading)
    python3 benchmarks/learning.py eval --preset cpu-qwen --model qwen2.5-coder-0.5b \
        --label step-0 --out study/ --cruxeval ../shared/data/cruxeval/cruxeval.jsonl
    python3 benchmarks/learning.py eval --preset cpu-qwen --model runs/q/checkpoints/step-000010 \
        --label step-10 --out study/ --cruxeval ...
    # 3. table (markdown) and PNG plots of every evaluation in study/
    python3 benchmarks/learning.py report --out study/ --run runs/q

The training run itself is plain `azr train --preset cpu-qwen --run-dir runs/q` (resumable);
keep milestone checkpoints with `--set run.keep_every=10`. Sampling goes through the
inference engine training uses (vLLM when installed; `--engine hf` for the embedded sampler).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from azr.config import parse_assignment, resolve_config
from azr.evaluate.learning import build_heldout, evaluate, load_cruxeval
from azr.jsonl import read_jsonl


def groups(types: list[str]) -> list[tuple[str, str, str]]:
    """(role, task type or set, metric) rows of the table, for the study's task types."""
    return (
        [("solver", t, "solve_rate") for t in types]
        + [("solver", t, "format_rate") for t in types]
        + [("proposer", t, "valid_rate") for t in types]
        + [("proposer", t, "format_rate") for t in types]
        + [("solver", "cruxeval-o", "solve_rate"), ("solver", "cruxeval-o", "format_rate")]
        + [("solver", k, "example_copy_rate") for k in (*types, "cruxeval-o")]
        + [("proposer", t, "example_copy_rate") for t in types]
    )


def types_of(evals: list[dict[str, Any]]) -> list[str]:
    """The task types the evaluations measured (the config's `selfplay.task_types` when they
    ran), in their order."""
    found: dict[str, None] = {}
    for e in evals:
        for key in (*e.get("proposer", {}), *e.get("solver", {})):
            if key not in ("n", "samples", "cruxeval-o"):
                found.setdefault(key, None)
    return list(found)


# Fewer items than this (tasks or prompts) make a bootstrap CI meaningless: such cells are
# marked in the table and never called a gain or a loss.
MIN_ITEMS = 5


def log(msg: str) -> None:
    print(f"learning: {msg}", file=sys.stderr, flush=True)


def _policy(cfg: Any, model: str, engine: str = "auto") -> Any:
    """What samples `model` (a name, run directory, RUN@N or checkpoint): the inference engine
    training uses (vLLM when installed) or the embedded sampler, on the preset's weights;
    `close()` releases it."""
    from azr.policy.factory import generator_for_model

    return generator_for_model(model, device="cpu", engine=engine)


def _executor(cfg: Any) -> Any:
    from azr.selfplay.trainer import default_executor

    return default_executor(cfg)


def cmd_heldout(args: argparse.Namespace, cfg: Any) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "heldout.jsonl"
    if target.exists():
        sys.exit(f"learning: error: {target} exists (the held-out set is built once per study)")
    policy = _policy(cfg, args.model or cfg.model.name, args.engine)
    try:
        with _executor(cfg) as ex:
            rows = build_heldout(cfg, policy, ex, args.per_type, args.rounds)
    finally:
        policy.close()
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts = {t: sum(r["task_type"] == t for r in rows) for t in cfg.selfplay.task_types}
    log(f"held-out tasks written to {target}: {counts}")


def cmd_eval(args: argparse.Namespace, cfg: Any) -> None:
    out = Path(args.out)
    heldout = read_jsonl(out / "heldout.jsonl")
    crux_path = Path(args.cruxeval or os.environ.get("AZR_CRUXEVAL", ""))
    if not crux_path.is_file():
        sys.exit(
            "learning: error: give --cruxeval PATH or set AZR_CRUXEVAL (CRUXEval's "
            "data/cruxeval.jsonl, MIT: github.com/facebookresearch/cruxeval)"
        )
    crux = load_cruxeval(crux_path, args.crux_limit)
    policy = _policy(cfg, args.model, args.engine)
    try:
        with _executor(cfg) as ex:
            res = evaluate(
                cfg, policy, ex, heldout, crux, n=args.n, proposals_per_type=args.proposals, log=log
            )
    finally:
        policy.close()
    res.update(label=args.label, model=args.model, step=args.step)
    (out / f"eval-{args.label}.json").write_text(json.dumps(res, indent=1))
    log(f"{args.label}: {res['seconds']} s; " + _line(res, cfg.selfplay.task_types))


def _line(res: dict[str, Any], types: list[str]) -> str:
    parts = []
    for role, key, metric in groups(types):
        v = res[role].get(key, {}).get(metric)
        if v:
            parts.append(f"{role[:4]}.{key[:4]}.{metric.split('_')[0]} {v['value']:.2f}")
    return ", ".join(parts)


def _fmt(v: dict[str, float] | None) -> str:
    if not v or v.get("items", 0) == 0 or math.isnan(v["value"]):
        return "–"
    few = f" ({v['items']} item{'s' if v['items'] > 1 else ''})" if v["items"] < MIN_ITEMS else ""
    return f"{100 * v['value']:.0f} % [{100 * v['lo']:.0f}, {100 * v['hi']:.0f}]{few}"


def cmd_report(args: argparse.Namespace, _cfg: Any) -> None:
    out = Path(args.out)
    evals = sorted(
        (json.loads(p.read_text()) for p in out.glob("eval-*.json")), key=lambda r: r["step"]
    )
    if not evals:
        sys.exit(f"learning: error: no eval-*.json in {out}")
    types = types_of(evals)
    header = "| measure | " + " | ".join(f"step {e['step']}" for e in evals) + " |"
    lines = [header, "|" + "---|" * (len(evals) + 1)]
    for role, key, metric in groups(types):
        cells = [_fmt(e[role].get(key, {}).get(metric)) for e in evals]
        lines.append(f"| {role} {key} {metric.replace('_', ' ')} | " + " | ".join(cells) + " |")
    first, last = evals[0], evals[-1]
    gains = []
    for role, key, metric in groups(types):
        a, b = first[role].get(key, {}).get(metric), last[role].get(key, {}).get(metric)
        if a and b and min(a["items"], b["items"]) >= MIN_ITEMS:
            if b["lo"] > a["hi"]:
                gains.append(f"{role} {key} {metric}: up (CIs do not overlap)")
            elif b["hi"] < a["lo"]:
                gains.append(f"{role} {key} {metric}: down (CIs do not overlap)")
    table = "\n".join(lines)
    verdict = "\n".join(f"- {g}" for g in gains) or "- no measure moved beyond its 95 % CI"
    (out / "table.md").write_text(table + "\n\nFirst vs last evaluation:\n" + verdict + "\n")
    print(table)
    print("\nFirst vs last evaluation:\n" + verdict)
    _plots(out, evals, types, Path(args.run) if args.run else None)


def _plots(out: Path, evals: list[dict[str, Any]], types: list[str], run: Path | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e["step"] for e in evals]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    panels = [
        ("solver solve rate", [("solver", k, "solve_rate") for k in (*types, "cruxeval-o")]),
        ("solver format-ok rate", [("solver", k, "format_rate") for k in (*types, "cruxeval-o")]),
        (
            "proposer rates",
            [("proposer", t, m) for t in types for m in ("valid_rate", "format_rate")],
        ),
    ]
    for ax, (title, series) in zip(axes, panels, strict=True):
        for i, (role, key, metric) in enumerate(series):
            vals = [e[role].get(key, {}).get(metric) for e in evals]
            if not all(vals):
                continue
            y = [v["value"] for v in vals]
            err = [[v["value"] - v["lo"] for v in vals], [v["hi"] - v["value"] for v in vals]]
            x = [s + (i - len(series) / 2) * 0.08 for s in steps]  # keep equal lines apart
            ax.errorbar(
                x, y, yerr=err, marker="o", capsize=3, label=f"{key} {metric.split('_')[0]}"
            )
        ax.set_title(title)
        ax.set_xlabel("training step")
        ax.set_ylim(-0.03, 1.03)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(out / "rates.png", dpi=110)
    plt.close(fig)
    first, last = evals[0], evals[-1]
    fig, axes = plt.subplots(1, len(types) + 1, figsize=(15, 3.4), squeeze=False)
    axes = axes[0]
    for ax, key in zip(axes, (*types, "cruxeval-o"), strict=True):
        for e, style in ((first, "o--"), (last, "s-")):
            pk = e["solver"].get(key, {}).get("pass_at_k", {})
            if pk:
                ks = sorted(int(k) for k in pk)
                ax.plot(ks, [pk[str(k)] for k in ks], style, label=f"step {e['step']}")
        ax.set_title(f"{key}: pass@k")
        ax.set_xlabel("k")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "passk.png", dpi=110)
    plt.close(fig)
    if run is not None and (run / "metrics.jsonl").is_file():
        rows = read_jsonl(run / "metrics.jsonl")
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for i, t in enumerate(types):
            for j, role in enumerate(("proposer", "solver")):
                ys = [r.get(f"{t}/{role}/reward") for r in rows]
                xs = [r["step"] + (2 * i + j - 2.5) * 0.04 for r in rows]
                ax.plot(xs, ys, marker=".", label=f"{t[:3]}.{role[:4]} reward")
        ax.set_xlabel("training step")
        ax.set_ylabel("mean reward")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        fig.savefig(out / "train-rewards.png", dpi=110)
        plt.close(fig)
    log(f"plots written to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("command", choices=("heldout", "eval", "report"))
    ap.add_argument("--preset", default="cpu-qwen")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--model", help="model name, run directory, RUN@N or checkpoint directory")
    ap.add_argument("--out", required=True, help="study directory")
    ap.add_argument("--label", default="base")
    ap.add_argument("--step", type=int, default=0, help="training step of --model")
    ap.add_argument("--per-type", type=int, default=12, help="held-out tasks per type")
    ap.add_argument("--rounds", type=int, default=6, help="proposal rounds for the held-out set")
    ap.add_argument("--n", type=int, default=4, help="samples per solver prompt")
    ap.add_argument("--proposals", type=int, default=8, help="proposer prompts per type")
    ap.add_argument("--crux-limit", type=int, default=30)
    ap.add_argument("--cruxeval", help="CRUXEval jsonl (or $AZR_CRUXEVAL)")
    ap.add_argument("--run", help="run directory, for the training-reward plot")
    ap.add_argument("--engine", default="auto", help="what samples: auto, vllm or hf")
    args = ap.parse_args()
    cfg = resolve_config(args.preset, None, [parse_assignment(s) for s in args.sets])
    {"heldout": cmd_heldout, "eval": cmd_eval, "report": cmd_report}[args.command](args, cfg)


if __name__ == "__main__":
    main()
