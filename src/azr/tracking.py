"""Experiment tracking: `--report-to none|tensorboard|wandb|mlflow` of `azr train` and `azr eval`.

One `Tracking` object fans every record out to the chosen backends:

- **tensorboard** (the default, as before): event files in `RUN/tb/` (or `OUT/tb/` for
  `azr eval --out`), opened at the first step logged; silently absent without tensorboard.
- **wandb** (extra `azr[wandb]`): a Weights & Biases run (project `$WANDB_PROJECT`, default
  `azr`; files under `RUN/wandb/`; `WANDB_MODE=offline` logs with no account or network).
- **mlflow** (extra `azr[mlflow]`): an MLflow run in experiment `$MLFLOW_EXPERIMENT_NAME`
  (default `azr`) at `$MLFLOW_TRACKING_URI`, by default a local file store `RUN/mlruns`.

What is logged: the resolved config (W&B config, MLflow params and `config.yaml`, TensorBoard
text); every number of a step's `metrics.jsonl` line, under the same name, at that step; a
table of a handful of the step's chains of thought (one per task type x role); `azr eval`'s
pass@k (a curve over k per benchmark and model, its CIs, a table, `summary.json` and the plot);
and the final `report.html` of a run as an artefact.

Resume: the W&B run id and the MLflow run id are kept in `RUN/tracking.json`, so
`azr train --resume` continues the same tracked run; steps a backend already has (a run that
crashed after logging them) are not sent again. A backend that fails while logging is reported
once on stderr and dropped; training goes on.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from azr.errors import UserError

REPORTERS = ("none", "tensorboard", "wandb", "mlflow")
# backend -> (module it imports, the extra that installs it)
EXTRAS = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}
STATE_FILE = "tracking.json"
SAMPLE_COLUMNS = (
    "step",
    "task_type",
    "role",
    "purpose",
    "reward",
    "format_ok",
    "valid",
    "correct",
    "reason",
    "prompt",
    "completion",
)
# Characters of a prompt or completion in a sample table (the full text is in samples.jsonl).
MAX_TEXT = 8000
Say = Callable[[str], None]


def _warn(line: str) -> None:
    print(f"azr: warning: {line}", file=sys.stderr, flush=True)


def parse_report_to(values: str | Iterable[str] | None) -> list[str]:
    """`--report-to` values (repeated, comma lists or both) as a list without repeats; `none`
    alone means no tracking. A UserError for an unknown name or `none` beside another."""
    if values is None:
        return ["tensorboard"]
    items = [values] if isinstance(values, str) else list(values)
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name not in REPORTERS:
                raise UserError(f"--report-to: unknown {name!r}; use {', '.join(REPORTERS)}")
            if name not in names:
                names.append(name)
    if "none" in names and len(names) > 1:
        raise UserError("--report-to none cannot be combined with other trackers")
    return [n for n in names if n != "none"]


def check_installed(names: Iterable[str], what: str = "azr") -> None:
    """A one-line UserError naming the extra when a chosen tracker's package is missing."""
    for name in names:
        if name not in EXTRAS:
            continue
        module, extra = EXTRAS[name]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise UserError(
                f"{what} --report-to {name} needs the {module} package, which is not installed: "
                f'pip install "azr[{extra}]" (in a clone: pip install -e ".[{extra}]")'
            )


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric values of a metrics line (not the step itself; booleans are numbers too)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key == "step":
            continue
        if isinstance(value, int | float):  # booleans included
            out[key] = float(value)
    return out


def sample_rows(records: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """A handful of a step's samples: the first trained-on one of each task type x role."""
    seen: set[tuple[Any, Any]] = set()
    rows = []
    for rec in records:
        if rec.get("purpose") not in ("propose", "solve"):
            continue
        group = (rec.get("task_type"), rec.get("role"))
        if group in seen:
            continue
        seen.add(group)
        row = []
        for col in SAMPLE_COLUMNS:
            value = rec.get(col)
            if isinstance(value, str) and len(value) > MAX_TEXT:
                value = value[:MAX_TEXT] + f" [... {len(value) - MAX_TEXT} more characters]"
            row.append(value)
        rows.append(row)
    return rows


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted keys."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# ----------------------------------------------------------------------------- backends


class Backend:
    """One tracking backend. Subclasses override what they support."""

    name = "backend"
    takes_files = False

    def log_step(self, step: int, metrics: dict[str, float], samples: list[list[Any]]) -> None:
        """The numbers of one training step and a table of its samples."""

    def log_curve(self, key: str, points: dict[int, float]) -> None:
        """A curve logged as steps (pass@k: step = k)."""

    def log_summary(
        self, values: dict[str, float], table: tuple[list[str], list[list[Any]]]
    ) -> None:
        """Final values (summary) and one table of them."""

    def log_file(self, path: Path, kind: str) -> None:
        """A file as an artefact (the report, an eval summary, a plot)."""

    def state(self) -> dict[str, Any]:
        """What resuming this tracked run needs (kept in tracking.json)."""
        return {}

    def close(self) -> None:
        """Finish the tracked run."""


class TensorBoardBackend(Backend):
    """Event files, opened at the first record (no empty file for a run stopped before)."""

    name = "tensorboard"

    def __init__(self, directory: Path, config_text: str | None) -> None:
        self.directory = directory
        self.config_text = config_text
        self.writer: Any = None
        self.tried = False

    def _open(self) -> Any:
        if self.writer is None and not self.tried:
            self.tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.directory))
            except Exception:  # tensorboard (or torch) missing: as before, no events
                self.writer = None
            if self.writer is not None and self.config_text:
                self.writer.add_text("config", "```\n" + self.config_text + "\n```", 0)
        return self.writer

    def log_step(self, step: int, metrics: dict[str, float], samples: list[list[Any]]) -> None:
        if self._open() is None:
            return
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        for row in samples:
            rec = dict(zip(SAMPLE_COLUMNS, row, strict=True))
            head = f"reward {rec['reward']} · {rec['reason']}"
            body = "\n".join("    " + line for line in str(rec["completion"]).splitlines())
            self.writer.add_text(
                f"samples/{rec['task_type']}/{rec['role']}", head + "\n\n" + body, step
            )
        self.writer.flush()

    def log_curve(self, key: str, points: dict[int, float]) -> None:
        if self._open() is None:
            return
        for k, value in sorted(points.items()):
            self.writer.add_scalar(key, value, k)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class WandbBackend(Backend):
    """A Weights & Biases run; resumed by its id."""

    name = "wandb"
    takes_files = True

    def __init__(
        self, directory: Path, config: dict[str, Any], job: str, name: str, state: dict[str, Any]
    ) -> None:
        import wandb

        self.wandb = wandb
        run_id = state.get("id") or uuid.uuid4().hex[:12]
        project = state.get("project") or os.environ.get("WANDB_PROJECT") or "azr"
        directory.mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(
                project=project,
                entity=state.get("entity") or None,
                name=name,
                id=run_id,
                resume="allow",
                dir=str(directory),
                job_type=job,
                config=config,
            )
        except Exception as exc:  # no login in online mode, a bad entity, ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(
                f"--report-to wandb: cannot start a W&B run: {first} (wandb login, or "
                "WANDB_MODE=offline to log locally)"
            ) from None
        self.project = project

    def log_step(self, step: int, metrics: dict[str, float], samples: list[list[Any]]) -> None:
        record: dict[str, Any] = dict(metrics)
        if samples:
            columns: list[Any] = list(SAMPLE_COLUMNS)
            record["samples"] = self.wandb.Table(columns=columns, data=samples)
        self.run.log(record, step=step)

    def log_curve(self, key: str, points: dict[int, float]) -> None:
        # W&B steps only go forward: a curve over k goes into the summary as key@k values.
        self.run.summary.update({f"{key}@{k}": v for k, v in points.items()})

    def log_summary(
        self, values: dict[str, float], table: tuple[list[str], list[list[Any]]]
    ) -> None:
        self.run.summary.update(values)
        columns: list[Any] = list(table[0])
        if table[1]:
            self.run.log({"results": self.wandb.Table(columns=columns, data=table[1])})

    def log_file(self, path: Path, kind: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{kind}-{self.run.id}")
        artifact = self.wandb.Artifact(safe, type=kind)
        artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def state(self) -> dict[str, Any]:
        return {"id": self.run.id, "project": self.project, "entity": self.run.entity}

    def close(self) -> None:
        self.run.finish()


_MLFLOW_NAME = re.compile(r"[^\w./ :-]")  # what MLflow allows in metric and param names


class MlflowBackend(Backend):
    """An MLflow run through the client API (no global active run)."""

    name = "mlflow"
    takes_files = True

    def __init__(
        self,
        default_store: Path,
        config: dict[str, Any],
        job: str,
        name: str,
        state: dict[str, Any],
        config_text: str | None,
    ) -> None:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or state.get("tracking_uri")
        if not uri:
            # A local file store in the run directory; MLflow 3 asks for this opt-in to use one.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            uri = default_store.resolve().as_uri()
        elif uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param, RunTag

        self.Metric, self.Param, self.RunTag = Metric, Param, RunTag
        self.uri = uri
        self.client = client = MlflowClient(tracking_uri=uri)
        run_id = state.get("run_id") if state.get("tracking_uri") in (None, uri) else None
        self.run_id = ""
        if run_id:
            try:
                client.get_run(run_id)
                client.update_run(run_id, status="RUNNING")
                self.run_id = run_id
            except Exception:
                _warn(f"mlflow run {run_id} is not at {uri}; starting a new one")
        if not self.run_id:
            experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "azr"
            found = client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found else client.create_experiment(experiment)
            run = client.create_run(exp_id, run_name=name, tags={"azr.job": job})
            self.run_id = run.info.run_id
            params = [self.Param(self._key(k), str(v)[:6000]) for k, v in flatten(config).items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
                client.log_batch(self.run_id, params=params[i : i + 100])
        if config_text:
            client.log_text(self.run_id, config_text, "config.yaml")

    @staticmethod
    def _key(name: str) -> str:
        return _MLFLOW_NAME.sub("_", name.replace("@", "_at_"))

    def _metrics(self, values: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        batch = [self.Metric(self._key(k), v, now, step) for k, v in values.items()]
        for i in range(0, len(batch), 1000):  # MLflow's batch limit
            self.client.log_batch(self.run_id, metrics=batch[i : i + 1000])

    def log_step(self, step: int, metrics: dict[str, float], samples: list[list[Any]]) -> None:
        self._metrics(metrics, step)
        if samples:
            table = {"columns": list(SAMPLE_COLUMNS), "data": samples}
            text = json.dumps(table, ensure_ascii=False, default=str)
            self.client.log_text(self.run_id, text, f"samples/step-{step:06d}.json")

    def log_curve(self, key: str, points: dict[int, float]) -> None:
        now = int(time.time() * 1000)
        batch = [self.Metric(self._key(key), v, now, k) for k, v in sorted(points.items())]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_summary(
        self, values: dict[str, float], table: tuple[list[str], list[list[Any]]]
    ) -> None:
        self._metrics(values, 0)
        columns, rows = table
        if rows:
            text = json.dumps({"columns": columns, "data": rows}, default=str)
            self.client.log_text(self.run_id, text, "results.json")

    def log_file(self, path: Path, kind: str) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def state(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self.uri}

    def close(self) -> None:
        self.client.set_terminated(self.run_id, "FINISHED")


# ----------------------------------------------------------------------------- the fan-out


def _curve(backend: Backend, key: str, points: dict[int, float]) -> None:
    backend.log_curve(key, points)


class Tracking:
    """Every chosen backend behind one object; `tracking.json` in `state_dir` when given."""

    def __init__(self, backends: list[Backend], state_dir: Path | None, last: dict[str, int]):
        self.backends = backends
        self.state_dir = state_dir
        self.last = last  # per backend: the newest step it has logged
        self._save_state()

    @classmethod
    def open(
        cls,
        kinds: Sequence[str],
        directory: Path,
        *,
        config: dict[str, Any],
        job: str,
        name: str,
        tensorboard: bool = True,
        state_dir: Path | None = None,
    ) -> Tracking:
        """Start (or, with a `tracking.json` in `state_dir`, resume) the tracked runs."""
        import yaml

        check_installed(kinds)
        saved: dict[str, Any] = {}
        path = None if state_dir is None else state_dir / STATE_FILE
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text())
            except ValueError:
                _warn(f"{path} is unreadable; tracked runs start afresh")
        config_text = yaml.safe_dump(config, sort_keys=False) if config else None
        backends: list[Backend] = []
        try:
            for kind in kinds:
                state = saved.get(kind) or {}
                if kind == "tensorboard" and tensorboard:
                    backends.append(TensorBoardBackend(directory / "tb", config_text))
                elif kind == "wandb":
                    backends.append(WandbBackend(directory, config, job, name, state))
                elif kind == "mlflow":
                    store = directory / "mlruns"
                    backends.append(MlflowBackend(store, config, job, name, state, config_text))
        except BaseException:
            for b in backends:
                b.close()
            raise
        last = {k: int(v.get("last_step", -1)) for k, v in saved.items() if isinstance(v, dict)}
        return cls(backends, path.parent if path else None, last)

    @property
    def takes_files(self) -> bool:
        return any(b.takes_files for b in self.backends)

    def _each(self, what: str, call: Callable[[Backend], None]) -> None:
        for backend in list(self.backends):
            try:
                call(backend)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                _warn(f"{backend.name} stopped logging ({what}: {first}); going on without it")
                self.backends.remove(backend)
                with contextlib.suppress(Exception):
                    backend.close()

    def _save_state(self) -> None:
        if self.state_dir is None:
            return
        state = {}
        for b in self.backends:
            entry = b.state()
            if entry:
                state[b.name] = {**entry, "last_step": self.last.get(b.name, -1)}
        if not state:
            return
        from azr.rundir import write_atomic

        write_atomic(self.state_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")

    def log_step(
        self, step: int, metrics: dict[str, Any], records: Sequence[dict[str, Any]] = ()
    ) -> None:
        """A training step: its metrics line (numbers, same names) and a few of its samples."""
        numbers = _numbers(metrics)
        rows = sample_rows(records)

        def one(b: Backend) -> None:
            if step > self.last.get(b.name, -1):
                b.log_step(step, numbers, rows)
                self.last[b.name] = step

        self._each(f"step {step}", one)
        self._save_state()

    def log_eval(self, results: Sequence[Any]) -> None:
        """`azr eval` results: pass@k curves, final values with CIs, and a table."""
        from azr.evaluate.runner import slug

        values: dict[str, float] = {}
        rows: list[list[Any]] = []
        curves: dict[str, dict[int, float]] = {}
        for res in results:
            base = f"{res.benchmark}/{slug(res.model)}"
            curves[f"pass@k/{base}"] = {int(k): float(v) for k, v in res.pass_at_k.items()}
            for k, v in sorted(res.pass_at_k.items()):
                lo, hi = res.ci95.get(k, (math.nan, math.nan))
                values[f"{base}/pass@{k}"] = float(v)
                values[f"{base}/pass@{k}_ci_low"] = float(lo)
                values[f"{base}/pass@{k}_ci_high"] = float(hi)
                rows.append([res.model, res.benchmark, int(k), float(v), float(lo), float(hi),
                             res.num_problems, res.n])  # fmt: skip
        columns = ["model", "benchmark", "k", "pass@k", "ci_low", "ci_high", "problems", "n"]
        for key, points in curves.items():
            self._each("pass@k", functools.partial(_curve, key=key, points=points))
        self._each("results", lambda b: b.log_summary(values, (columns, rows)))

    def log_file(self, path: Path, kind: str) -> None:
        """A file as an artefact of every backend that keeps files."""
        if path.is_file():
            self._each(f"artefact {path.name}", lambda b: b.log_file(path, kind))

    def close(self) -> None:
        """Finish every tracked run."""
        self._save_state()
        for backend in self.backends:
            try:
                backend.close()
            except Exception as exc:  # a finished run is not worth a traceback
                _warn(f"{backend.name}: closing failed ({type(exc).__name__}: {exc})")
        self.backends = []


def for_run(run_dir: Path, cfg: Any) -> Tracking:
    """The tracking of a training run: `cfg.run.report_to`, state in the run directory."""
    return Tracking.open(
        cfg.run.report_to,
        run_dir,
        config=cfg.model_dump(mode="json"),
        job="train",
        name=run_dir.resolve().name,
        tensorboard=cfg.run.tensorboard,
        state_dir=run_dir,
    )


def finish_run(tracking: Tracking, run_dir: Path) -> None:
    """At the end of a training run: write the report and keep it as an artefact (only for
    backends that keep files; a run with no step logged has no report)."""
    if not tracking.takes_files or not (run_dir / "metrics.jsonl").is_file():
        return
    if (run_dir / "metrics.jsonl").stat().st_size == 0:
        return
    try:
        from azr.report import write_report

        summary = write_report(run_dir)
    except Exception as exc:  # the report is a courtesy here; training itself succeeded
        _warn(f"no report for the trackers: {type(exc).__name__}: {exc}")
        return
    tracking.log_file(Path(summary["report"]), "report")


def track_eval(
    kinds: Sequence[str],
    out: Path | None,
    results: Sequence[Any],
    config: dict[str, Any],
) -> None:
    """Log `azr eval` results: pass@k curves and values with CIs, a table, and the files of
    `--out` (summary.json, passk.png). TensorBoard writes OUT/tb and needs `--out`; W&B and
    MLflow keep their files in OUT (or the current directory)."""
    kinds = [k for k in kinds if k != "tensorboard" or out is not None]
    if not kinds or not results:
        return
    directory = Path(out) if out is not None else Path.cwd()
    name = f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    if out is not None:
        name = f"eval-{Path(out).resolve().name}"
    tracking = Tracking.open(kinds, directory, config=config, job="eval", name=name)
    try:
        tracking.log_eval(results)
        if out is not None:
            for file in ("summary.json", "passk.png"):
                tracking.log_file(Path(out) / file, "eval")
    finally:
        tracking.close()
