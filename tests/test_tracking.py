"""Experiment tracking (`--report-to`): a 2-step tiny run logged to W&B (offline) and MLflow (a
local file store) holds exactly the metrics of metrics.jsonl; resume continues the same tracked
runs; eval pass@k is tracked; a missing extra is one line."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from azr.errors import UserError
from azr.tracking import check_installed, parse_report_to, sample_rows

HAS_WANDB = importlib.util.find_spec("wandb") is not None
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


def _has_sandbox() -> bool:
    try:
        from azr.sandbox import Executor  # noqa: F401
    except ImportError:
        return False
    return importlib.util.find_spec("torch") is not None


def azr(
    *args: str, env: dict[str, str] | None = None, prelude: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    code = f"{prelude}\nimport sys\nfrom azr.cli import main\nsys.argv = ['azr', *sys.argv[1:]]\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("azr: error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ----------------------------------------------------------------------------- reading back


def wandb_records(run_dir: Path, run_id: str) -> list[Any]:
    """Every record of the offline W&B files of run `run_id` (a resume adds a file): the
    .wandb file is a LevelDB-style log of 32 KiB blocks of protobuf records."""
    from wandb.proto import wandb_internal_pb2 as pb

    records = []
    for path in sorted(run_dir.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")):
        raw = path.read_bytes()
        assert raw[:4] == b":W&B"
        pos, block, pending = 7, 32768, b""
        while pos + 7 <= len(raw):
            left = block - pos % block
            if left < 7:
                pos += left
                continue
            _crc, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
            if kind == 0:
                pos += left
                continue
            data, pos = raw[pos + 7 : pos + 7 + length], pos + 7 + length
            if kind in (1, 2):  # full, first
                pending = data
            else:  # middle, last
                pending += data
            if kind in (1, 4):
                rec = pb.Record()
                rec.ParseFromString(pending)
                records.append(rec)
    return records


def wandb_history(records: list[Any]) -> dict[int, dict[str, Any]]:
    steps: dict[int, dict[str, Any]] = {}
    for rec in records:
        if rec.WhichOneof("record_type") != "history":
            continue
        row = {
            (i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item
        }
        steps.setdefault(int(row["_step"]), {}).update(row)
    return steps


def metrics_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def numbers(line: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in line.items() if k != "step" and isinstance(v, int | float)}


# ----------------------------------------------------------------------------- units


def test_report_to_parsing_and_missing_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_report_to(None) == ["tensorboard"]
    assert parse_report_to(["wandb,mlflow", "wandb", " TensorBoard "]) == [
        "wandb",
        "mlflow",
        "tensorboard",
    ]
    assert parse_report_to(["none"]) == [] and parse_report_to("") == []
    with pytest.raises(UserError, match="unknown 'comet'"):
        parse_report_to(["comet"])
    with pytest.raises(UserError, match="cannot be combined"):
        parse_report_to(["none,wandb"])
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "wandb" else real(n, *a)
    )
    with pytest.raises(UserError, match=r'needs the wandb package.*pip install "azr\[wandb\]"'):
        check_installed(["tensorboard", "wandb"], "azr train")
    from azr.config import resolve_config

    cfg = resolve_config("test", None, [{"run": {"report_to": "mlflow, wandb"}}])
    assert cfg.run.report_to == ["mlflow", "wandb"]
    with pytest.raises(UserError, match="run.report_to"):
        resolve_config("test", None, [{"run": {"report_to": ["neptune"]}}])


def test_sample_rows_take_one_trained_sample_per_group() -> None:
    recs = [
        {"purpose": "seed", "task_type": "deduction", "role": "proposer", "completion": "s"},
        {"purpose": "propose", "task_type": "deduction", "role": "proposer", "completion": "a"},
        {"purpose": "propose", "task_type": "deduction", "role": "proposer", "completion": "b"},
        {"purpose": "solve", "task_type": "deduction", "role": "solver", "completion": "x" * 9000},
        {"purpose": "learnability", "task_type": "abduction", "role": "solver", "completion": "c"},
    ]
    rows = sample_rows(recs)
    assert len(rows) == 2 and rows[0][-1] == "a"
    assert rows[1][-1].startswith("x" * 8000) and "1000 more characters" in rows[1][-1]


def test_missing_extra_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    block = "import sys; sys.modules['wandb'] = None; sys.modules['mlflow'] = None"
    run = tmp_path / "never"
    proc = azr("train", "--preset", "test", "--run-dir", str(run), "--report-to", "wandb",
               prelude=block)  # fmt: skip
    one_line_error(proc, "--report-to wandb needs the wandb package", "azr[wandb]")
    assert not run.exists()
    proc = azr("eval", "-m", "tiny-random", "-b", "cruxeval-o", "--report-to", "tensorboard,mlflow",
               prelude=block)  # fmt: skip
    one_line_error(proc, "azr eval --report-to mlflow needs the mlflow package", "azr[mlflow]")
    one_line_error(azr("train", "--report-to", "none,wandb"), "cannot be combined")


# ----------------------------------------------------------------------------- a real run

pytestmark_run = pytest.mark.skipif(
    not _has_sandbox() or not (HAS_WANDB or HAS_MLFLOW),
    reason="needs the sandbox, torch and wandb or mlflow (pip install -e '.[wandb,mlflow]')",
)
TRACKERS = ",".join([*(["wandb"] if HAS_WANDB else []), *(["mlflow"] if HAS_MLFLOW else [])])
OFFLINE = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "MLFLOW_TRACKING_URI": ""}


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("tracked") / "run"
    args = ("--model", "tiny-random", "--preset", "test", "--steps", "2", "--run-dir", str(run))
    proc = azr("train", *args, "--report-to", TRACKERS, "--report-to", "tensorboard", env=OFFLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("trained steps 1..2")
    assert len(proc.stdout.strip().splitlines()) == 1  # trackers print nothing on stdout
    return run


@pytestmark_run
@pytest.mark.skipif(not HAS_WANDB, reason="wandb is not installed (the azr[wandb] extra)")
def test_wandb_offline_run_holds_the_metrics_of_metrics_jsonl(tracked_run: Path) -> None:
    state = json.loads((tracked_run / "tracking.json").read_text())["wandb"]
    records = wandb_records(tracked_run, state["id"])
    kinds = [r.WhichOneof("record_type") for r in records]
    run_rec = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run_rec.run_id == state["id"] and run_rec.project == "azr"
    config = {u.key: json.loads(u.value_json) for u in run_rec.config.update}
    assert config["model"]["name"] == "tiny-random"
    assert config["run"]["report_to"] == [*TRACKERS.split(","), "tensorboard"]
    history = wandb_history(records)
    lines = metrics_lines(tracked_run)
    assert sorted(history) == [m["step"] for m in lines] == [1, 2]
    for line in lines:
        tracked = history[line["step"]]
        for key, value in numbers(line).items():
            assert key in tracked and same(float(tracked[key]), value), key
        assert tracked["samples/_type"] == "table-file" and tracked["samples/nrows"] >= 6
    artifacts = [(r.artifact.type, [m.path for m in r.artifact.manifest.contents])
                 for r in records if r.WhichOneof("record_type") == "artifact"]  # fmt: skip
    assert ("report", ["report.html"]) in artifacts
    assert "exit" in kinds and (tracked_run / "report.html").is_file()


def mlflow_client(run: Path) -> Any:
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient

    state = json.loads((run / "tracking.json").read_text())["mlflow"]
    assert state["tracking_uri"] == (run / "mlruns").resolve().as_uri()
    return MlflowClient(tracking_uri=state["tracking_uri"]), state["run_id"]


@pytestmark_run
@pytest.mark.skipif(not HAS_MLFLOW, reason="mlflow is not installed (the azr[mlflow] extra)")
def test_mlflow_file_store_run_holds_the_metrics_of_metrics_jsonl(
    tracked_run: Path, tmp_path: Path
) -> None:
    client, run_id = mlflow_client(tracked_run)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["azr.job"] == "train"
    assert run.data.params["model.name"] == "tiny-random"
    lines = metrics_lines(tracked_run)
    keys = set().union(*(numbers(m) for m in lines))
    assert keys <= set(run.data.metrics)
    for key in keys:
        history = {m.step: m.value for m in client.get_metric_history(run_id, key)}
        expected = {m["step"]: float(m[key]) for m in lines if key in m}
        assert history.keys() == expected.keys(), key
        assert all(same(history[s], v) for s, v in expected.items()), key
    files = {a.path for a in client.list_artifacts(run_id)}
    assert {"report.html", "config.yaml", "samples"} <= files
    local = client.download_artifacts(run_id, "samples/step-000002.json", str(tmp_path))
    table = json.loads(Path(local).read_text())
    assert table["columns"][-1] == "completion" and len(table["data"]) >= 6


@pytestmark_run
def test_resume_continues_the_same_tracked_runs(tracked_run: Path) -> None:
    before = json.loads((tracked_run / "tracking.json").read_text())
    proc = azr("train", "--run-dir", str(tracked_run), "--resume", "--steps", "3", env=OFFLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((tracked_run / "tracking.json").read_text())
    lines = metrics_lines(tracked_run)
    assert [m["step"] for m in lines] == [1, 2, 3]
    if HAS_WANDB:
        assert after["wandb"]["id"] == before["wandb"]["id"] and after["wandb"]["last_step"] == 3
        history = wandb_history(wandb_records(tracked_run, after["wandb"]["id"]))
        assert sorted(history) == [1, 2, 3]
        for key, value in numbers(lines[2]).items():
            assert same(float(history[3][key]), value), key
    if HAS_MLFLOW:
        assert after["mlflow"]["run_id"] == before["mlflow"]["run_id"]
        client, run_id = mlflow_client(tracked_run)
        history = client.get_metric_history(run_id, "deduction/solver/reward")
        assert sorted(m.step for m in history) == [1, 2, 3]  # no step twice


@pytest.mark.skipif(not (HAS_WANDB or HAS_MLFLOW), reason="needs wandb or mlflow")
@pytest.mark.skipif(not _has_sandbox(), reason="needs the sandbox")
def test_eval_pass_at_k_is_tracked(tmp_path: Path) -> None:
    data = tmp_path / "crux.jsonl"
    problems = [
        {"id": "sample_0", "code": "def f(x):\n    return x * 2", "input": "3", "output": "6"},
        {
            "id": "sample_1",
            "code": "def f(s):\n    return s[::-1]",
            "input": "'ab'",
            "output": "'ba'",
        },
    ]
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    gens = tmp_path / "gens.json"
    gens.write_text(json.dumps({"sample_0": ["6", "7"], "sample_1": ["'ba'", "'ba'"]}))
    out = tmp_path / "out"
    proc = azr("eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--data", str(data),
               "--k", "1,2", "--out", str(out), "--name", "m1", "--report-to",
               f"{TRACKERS},tensorboard", env=OFFLINE, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["pass@k"] == {"1": 0.75, "2": 1.0}
    assert list((out / "tb").glob("events.out.tfevents.*"))
    if HAS_MLFLOW:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=(out / "mlruns").resolve().as_uri())
        runs = client.search_runs(
            [client.get_experiment_by_name("azr").experiment_id], "tags.`azr.job` = 'eval'"
        )
        assert len(runs) == 1
        run_id = runs[0].info.run_id
        curve = client.get_metric_history(run_id, "pass_at_k/cruxeval-o/m1")
        assert {m.step: m.value for m in curve} == {1: 0.75, 2: 1.0}
        assert runs[0].data.metrics["cruxeval-o/m1/pass_at_1"] == 0.75
        assert {"summary.json", "passk.png", "results.json"} <= {
            a.path for a in client.list_artifacts(run_id)
        }
    if HAS_WANDB:
        ids = [p.name.rsplit("-", 1)[-1] for p in (out / "wandb").glob("offline-run-*")]
        assert len(ids) == 1
        summary_values: dict[str, Any] = {}
        for rec in wandb_records(out, ids[0]):
            if rec.WhichOneof("record_type") == "summary":
                for u in rec.summary.update:
                    summary_values[u.key or "/".join(u.nested_key)] = json.loads(u.value_json)
        assert summary_values["cruxeval-o/m1/pass@1"] == 0.75
        assert summary_values["pass@k/cruxeval-o/m1@2"] == 1.0
