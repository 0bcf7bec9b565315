"""The report as one self-contained HTML page: no scripts, no external files, every text escaped."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from html import escape
from pathlib import Path
from typing import Any

from azr.report.data import MAX_COMPLETION_CHARS, RunData, Sample, series
from azr.report.plots import Plot

# Config values worth a line in the summary (dotted paths into config.yaml).
HIGHLIGHTS = (
    "model.name",
    "model.device",
    "model.lora_rank",
    "selfplay.task_types",
    "selfplay.batch_size",
    "selfplay.references",
    "selfplay.learnability_samples",
    "selfplay.advantage",
    "selfplay.solve_tasks_from",
    "selfplay.reward",
    "optim.lr",
    "sampling.temperature",
    "sampling.proposer_max_new_tokens",
    "sampling.solver_max_new_tokens",
    "run.steps",
    "run.seed",
)
MAX_EMBEDDED_PNG = 5_000_000  # bytes; a larger plot is left out of the page
GROUP_COLUMNS = ("reward", "format_rate", "valid_rate", "solve_rate", "response_tokens", "count")

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222;
overflow-wrap:break-word}td{overflow-wrap:anywhere}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:left;font-size:.92em}th{background:#f4f4f4}td.num{text-align:right;
font-variant-numeric:tabular-nums}pre{background:#f7f7f7;border:1px solid #e2e2e2;padding:.6em;
overflow-x:auto;white-space:pre-wrap;word-break:break-word;font-size:.85em;max-height:40em}
.note{color:#8a5300}.sample{border:1px solid #ddd;border-radius:4px;padding:.5em 1em;
margin:1em 0}.meta{font-size:.9em;color:#444}figure{margin:1em 0}figcaption{font-size:.85em;
color:#555}img{max-width:100%}
"""


def _get(config: dict[str, Any] | None, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _fmt(value: Any) -> str:
    """A metric or config value as short text."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    human = f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s"
    return f"{seconds:.1f} s ({human})"


def total_time(run: RunData) -> float | None:
    """Sum of `time/step` over the logged steps (model load and seeding are not included)."""
    _, ys = series(run.metrics, "time/step")
    finite = [y for y in ys if not math.isnan(y)]
    return sum(finite) if finite else None


def _row(cells: list[str], *, header: bool = False) -> str:
    tag = "th" if header else "td"
    out = []
    for c in cells:
        cls = ' class="num"' if not header and _looks_numeric(c) else ""
        out.append(f"<{tag}{cls}>{escape(c)}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _summary(run: RunData) -> str:
    last = run.metrics[-1]
    planned = _get(run.config, "run.steps")
    steps_done = f"{len(run.metrics)} (last step {last.get('step')})"
    if planned is not None:
        steps_done += f" of {planned} planned"
    rows = [
        ["run directory", str(run.path)],
        ["model", _fmt(_get(run.config, "model.name"))],
        ["steps logged", steps_done],
    ]
    total = total_time(run)
    if total is not None:
        rows.append(["total step time", _duration(total)])
        rows.append(["mean time per step", f"{total / len(run.metrics):.1f} s"])
    for task_type in run.task_types:
        key = f"buffer/{task_type}"
        if key in last:
            rows.append([f"{key} (last step)", _fmt(last[key])])
    for purpose, n in sorted(run.samples.counts.items()):
        rows.append([f"samples: {purpose}", str(n)])
    parts = ["<h2>Run summary</h2><table>", *(_row(r) for r in rows), "</table>"]
    highlights = [[k, _fmt(_get(run.config, k))] for k in HIGHLIGHTS]
    highlights = [h for h in highlights if h[1] != "–"]
    if highlights:
        parts += ["<h3>Config highlights</h3><table>", *(_row(r) for r in highlights), "</table>"]
    if run.config is not None:
        import yaml

        text = yaml.safe_dump(run.config, sort_keys=False, default_flow_style=False)
        parts.append(f"<details><summary>full config</summary><pre>{escape(text)}</pre></details>")
    notes = [n for n in (run.config_note, run.samples.note, run.diversity.note) if n]
    notes += run.metrics_notes
    if run.samples.bad_lines:
        notes.append(f"{run.samples.bad_lines} unreadable line(s) in samples.jsonl were skipped")
    parts += [f'<p class="note">note: {escape(n)}</p>' for n in notes]
    return "\n".join(parts)


def _table(header: list[str], rows: list[list[str]]) -> str:
    return "<table>" + _row(header, header=True) + "".join(_row(r) for r in rows) + "</table>"


def _png(path: Path, title: str) -> str:
    """A PNG file of the run directory, embedded (the page stays one self-contained file)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if not data.startswith(b"\x89PNG") or len(data) > MAX_EMBEDDED_PNG:
        return ""
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img alt="{escape(title)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{escape(title)}</figcaption></figure>"
    )


def _results(run: RunData) -> str:
    """pass@k of `azr eval --out` and held-out rates of benchmarks/learning.py found in the run."""
    from azr.report.results import eval_table, study_table

    found = run.results
    parts = ["<h2>Evaluation results</h2>"]
    if not found:
        parts.append(
            '<p class="meta">No evaluation results in this run directory. Measure the run with '
            "<code>azr eval --model RUN --benchmark cruxeval-o ... --out RUN/eval</code> or "
            "<code>benchmarks/learning.py eval ... --out RUN</code>, then write the report "
            "again.</p>"
        )

    def where(path: Path) -> str:
        return "RUN" if path == run.path else f"RUN/{path.relative_to(run.path)}"

    for ev in found.evals:
        parts.append(f"<h3>pass@k (azr eval: {escape(where(ev.path))}/summary.json)</h3>")
        parts.append(_table(*eval_table(ev)))
        parts.append('<p class="meta">Unbiased pass@k; 95 % bootstrap CIs in brackets.</p>')
        parts += [_png(p, f"pass@k ({where(ev.path)}/{p.name})") for p in ev.plots]
    for study in found.studies:
        parts.append(
            "<h3>Held-out tasks (benchmarks/learning.py: "
            f"{escape(where(study.path))}/eval-*.json)</h3>"
        )
        parts.append(_table(*study_table(study)))
        parts.append(
            '<p class="meta">Rates of the base model and checkpoints on the same held-out '
            "self-play tasks and CRUXEval-O problems, 95 % bootstrap CIs in brackets, items "
            "in parentheses.</p>"
        )
        parts += [_png(p, f"{p.stem} ({where(study.path)}/{p.name})") for p in study.plots]
    parts += [f'<p class="note">note: {escape(n)}</p>' for n in found.notes]
    return "\n".join(parts)


def _plots(plots: list[Plot], missing: str | None) -> str:
    parts = ["<h2>Per-step plots</h2>"]
    if missing:
        parts.append(f'<p class="note">{escape(missing)}</p>')
    for p in plots:
        parts.append(
            f"<figure><h3>{escape(p.title)}</h3>"
            f'<img alt="{escape(p.title)}" src="data:image/png;base64,{p.png_base64}">'
            f"<figcaption>{escape(p.caption)}</figcaption></figure>"
        )
    return "\n".join(parts)


def _last_step_table(run: RunData) -> str:
    last = run.metrics[-1]
    parts = [
        f"<h2>Last step ({escape(str(last.get('step')))}) per group</h2><table>",
        _row(["task type", "role", *GROUP_COLUMNS], header=True),
    ]
    for task_type, role in run.groups:
        cells = [_fmt(last.get(f"{task_type}/{role}/{c}")) for c in GROUP_COLUMNS]
        parts.append(_row([task_type, role, *cells]))
    parts.append("</table>")
    other = sorted(k for k in last if k.startswith(("time/", "update/")))
    if other:
        parts.append("<table>" + _row(["metric", "value"], header=True))
        parts += [_row([k, _fmt(last[k])]) for k in other]
        parts.append("</table>")
    return "\n".join(parts)


def _diversity(run: RunData) -> str:
    parts = ["<h2>Diversity (buffers.sqlite)</h2>"]
    div = run.diversity
    if div.note:
        parts.append(f'<p class="note">{escape(div.note)}</p>')
    if div.rows:
        cols = ["tasks", "distinct_programs", "evicted_tasks", "distinct_programs_ever"]
        parts.append("<table>" + _row(["task type", *cols], header=True))
        parts += [_row([t, *(str(r[c]) for c in cols)]) for t, r in div.rows.items()]
        parts.append("</table>")
        parts.append(
            '<p class="meta">Programs are compared after parsing (formatting and comments '
            "ignored); tasks and distinct programs count live tasks, the last column also "
            "counts evicted ones.</p>"
        )
    return "\n".join(parts)


def _sample_html(s: Sample, label: str) -> str:
    outcome = "valid" if s.role == "proposer" else "correct"
    outcome_value = s.valid if s.role == "proposer" else s.correct
    meta = (
        f"step {_fmt(s.step)} · purpose {s.purpose} · reward {_fmt(s.reward)} · "
        f"format_ok {_fmt(s.format_ok)} · {outcome} {_fmt(outcome_value)} · "
        f"tokens {_fmt(s.tokens)}"
    )
    meta += "".join(f" · {k} {_fmt(v)}" for k, v in s.extra.items() if v is not None)
    completion = s.completion
    cut = ""
    if len(completion) > MAX_COMPLETION_CHARS:
        cut = f" (first {MAX_COMPLETION_CHARS} of {len(completion)} characters)"
        completion = completion[:MAX_COMPLETION_CHARS]
    parts = [
        '<div class="sample">',
        f"<h3>{escape(s.task_type)} / {escape(s.role)} — {escape(label)}</h3>",
        f'<p class="meta">{escape(meta)}</p>',
        f'<p class="meta">reason: {escape(_fmt(s.reason))}</p>',
    ]
    if s.task is not None:
        task = json.dumps(s.task, indent=1, default=str)
        parts.append(f"<details><summary>task</summary><pre>{escape(task)}</pre></details>")
    if s.prompt:
        parts.append(f"<details><summary>prompt</summary><pre>{escape(s.prompt)}</pre></details>")
    parts.append(f'<p class="meta">completion{escape(cut)}:</p><pre>{escape(completion)}</pre>')
    parts.append("</div>")
    return "\n".join(parts)


def _samples(run: RunData) -> str:
    parts = ["<h2>Example samples</h2>"]
    scan = run.samples
    if not scan.latest:
        parts.append('<p class="note">no samples to show</p>')
        return "\n".join(parts)
    parts.append(
        '<p class="meta">The latest generation of each task type x role (seed or learnability '
        "samples only where no propose/solve sample exists), and the latest valid proposal or "
        "correct answer when that is a different one.</p>"
    )
    order = {g: i for i, g in enumerate(run.groups)}
    for group in sorted(scan.latest, key=lambda g: (order.get(g, len(order)), g)):
        latest = scan.latest[group]
        parts.append(_sample_html(latest, "latest"))
        good = scan.latest_good.get(group)
        if good is not None and good is not latest:
            parts.append(_sample_html(good, "latest success"))
    return "\n".join(parts)


def shown_samples(run: RunData) -> int:
    """How many sample cards the page shows."""
    scan = run.samples
    extra = sum(1 for g, s in scan.latest_good.items() if scan.latest.get(g) is not s)
    return len(scan.latest) + extra


def render_html(run: RunData, plots: list[Plot], plots_missing: str | None = None) -> str:
    """The whole page."""
    title = f"azr run report: {run.path.name or run.path}"
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">generated {now} by azr report</p>',
        _summary(run),
        _results(run),
        _plots(plots, plots_missing),
        _last_step_table(run),
        _diversity(run),
        _samples(run),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
