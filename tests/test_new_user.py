"""What a new user hits (issue 11): install hints, one-line errors, flags, data paths, messages.

Each test runs the real `azr` entry point (a subprocess, or `azr.cli.main` in process where a
failure has to be provoked) and checks what the user sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_train_cli import azr

REPO = Path(__file__).resolve().parents[1]
SHARED_CRUXEVAL = REPO.parent / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"
SIZE = re.compile(r"\(\d+(\.\d+)? (B|kB|MB|GB)\)")


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single `azr: error:` line of a failed command (exit 2, no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "╭" not in proc.stderr  # no boxed error
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("azr: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------- 1. pip-only install

# Runs `azr` with torch and transformers made unimportable, as after a plain `pip install -e .`.
_WITHOUT_TORCH = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
sys.argv = ["azr", *sys.argv[1:]]
from azr.cli import main
main()
"""


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["train", "--model", "tiny-random"], "azr train"),
        (["eval", "--model", "tiny-random", "--benchmark", "cruxeval-o"], "azr eval"),
        (["bench", "step", "--model", "tiny-random"], "azr bench step"),
    ],
)
def test_without_torch_commands_name_the_install_command(
    tmp_path: Path, args: list[str], command: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    one_line_error(proc, f"{command} needs torch and transformers", 'pip install -e ".[train,cpu]"')
    assert not (tmp_path / "runs").exists()


def test_a_missing_train_extra_module_is_an_install_hint_not_a_bug() -> None:
    from azr.deps import missing, missing_module_message

    hint = missing_module_message(ModuleNotFoundError("x", name="peft.tuners"), "azr train")
    assert hint is not None and "azr train needs peft" in hint and ".[train,cpu]" in hint
    assert missing_module_message(ModuleNotFoundError("x", name="numpy")) is None
    assert missing(["json", "no_such_module_azr_test"]) == ["no_such_module_azr_test"]


def test_cpu_extra_pins_the_cpu_torch_build() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    cpu = project["optional-dependencies"]["cpu"]
    assert "torch==2.13.0+cpu; sys_platform == 'linux'" in cpu
    assert all(req.startswith("torch==2.13.0") for req in cpu)
    # torch stays out of the base install and of the train extra (whose users choose a build).
    for req in project["dependencies"] + project["optional-dependencies"]["train"]:
        assert not req.startswith("torch")


# ------------------------------------------------------------- 2, 6. isolation


def test_bad_isolation_in_config_is_one_line(tmp_path: Path) -> None:
    one_line_error(
        azr("train", "--set", "executor.isolation=nope", cwd=tmp_path),
        "executor.isolation",
        "'auto', 'bwrap' or 'none'",
        "nope",
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("executor:\n  isolation: docker\n")
    one_line_error(azr("train", "--config", str(cfg), cwd=tmp_path), "executor.isolation")
    one_line_error(azr("train", "--isolation", "docker", cwd=tmp_path), "executor.isolation")
    one_line_error(azr("bench", "executor", "--isolation", "nope"), "--isolation")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------- 7. CLI errors, --version


def test_unknown_option_and_missing_argument_are_one_line() -> None:
    one_line_error(azr("train", "--no-such-flag"), "No such option: --no-such-flag", "azr train")
    one_line_error(azr("eval", "score"), "--benchmark")
    one_line_error(azr("report"), "Missing argument")
    one_line_error(azr("train", "--steps", "many"), "--steps")
    one_line_error(azr("no-such-command"), "no-such-command")


def test_version() -> None:
    from azr import __version__

    proc = azr("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"azr {__version__}"


@pytest.mark.parametrize("args", [[], ["train"], ["eval"], ["bench", "step"]])
def test_help_shows_no_type_after_flags(args: list[str]) -> None:
    proc = azr(*args, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--help" in proc.stdout
    assert "<bool>" not in proc.stdout
    assert "╭" not in proc.stdout


def test_ctrl_c_in_train_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import azr.selfplay
    from azr.cli import main
    from azr.rundir import RunDir

    run = tmp_path / "R"

    def interrupted_train(cfg: Any, run_dir: Path, **_: Any) -> Any:
        RunDir.create(run_dir, cfg).close()
        raise KeyboardInterrupt

    monkeypatch.setattr(azr.selfplay, "train", interrupted_train)
    monkeypatch.setattr(sys, "argv", ["azr", "train", "--preset", "test", "--run-dir", str(run)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert f"continue with: azr train --run-dir {run} --resume" in err
    assert "azr: interrupted" in err


# ------------------------------------------------------------- 7, 11. train: resume, steps 0


def _tiny_env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


@pytest.mark.timeout(600)
def test_steps_zero_then_resume_with_the_same_flags(tmp_path: Path) -> None:
    run = tmp_path / "R"
    base = ["train", "--preset", "test", "--model", "tiny-random", "--run-dir", str(run)]
    first = azr(*base, "--steps", "0", "--isolation", "none", env=_tiny_env())
    assert first.returncode == 0, first.stderr[-3000:]
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("seeded the buffers, trained no steps"), last
    assert "nothing to train" not in first.stdout
    assert f"--run-dir {run} --resume" in last and SIZE.search(last), last
    assert "isolation: none" in (run / "config.yaml").read_text()
    # The header names the run directory, printed once it is about to exist.
    assert f"run directory {run}" in first.stderr

    # Adding --resume to the same command (with --preset) continues the run.
    again = azr(*base, "--steps", "0", "--isolation", "none", "--resume", env=_tiny_env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1].startswith("nothing to train")

    # A preset that would change the run is refused in one line, naming a differing key.
    before = (run / "config.yaml").read_text()
    line = one_line_error(azr(*base[:2], "cpu-demo", *base[3:], "--resume"), "--preset")
    assert re.search(r"gives [a-z_]+\.[a-z_]+=", line), line  # names the differing key
    assert (run / "config.yaml").read_text() == before


def test_unknown_model_announces_no_run_directory(tmp_path: Path) -> None:
    run = tmp_path / "R"
    proc = azr("train", "--preset", "test", "--model", "does-not-exist", "--run-dir", str(run))
    one_line_error(proc, "unknown model 'does-not-exist'")
    assert "run directory" not in proc.stderr
    assert not run.exists()


# ------------------------------------------------------------- 4. CRUXEval data


def _no_shared_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AZR_CRUXEVAL"}
    return {**env, "AZR_SHARED_DATA": str(tmp_path / "no-shared"), **extra}


def test_missing_cruxeval_says_where_to_get_it(tmp_path: Path) -> None:
    gens = tmp_path / "gens.json"
    gens.write_text(json.dumps({"sample_0": ["1"]}))
    env = _no_shared_env(tmp_path)
    score = azr("eval", "score", "--benchmark", "cruxeval-o", "--generations", str(gens), env=env)
    one_line_error(
        score, "github.com/facebookresearch/cruxeval", "data/cruxeval.jsonl", "AZR_CRUXEVAL="
    )
    one_line_error(azr("bench", "executor", env=env), "github.com/facebookresearch/cruxeval")
    env = _no_shared_env(tmp_path, AZR_CRUXEVAL=str(tmp_path / "nope.jsonl"))
    score = azr("eval", "score", "--benchmark", "cruxeval-o", "--generations", str(gens), env=env)
    one_line_error(score, f"AZR_CRUXEVAL={tmp_path / 'nope.jsonl'}: no such file")


def test_cruxeval_from_the_environment_variable(tmp_path: Path) -> None:
    data = tmp_path / "crux.jsonl"
    rows = [{"id": "sample_0", "code": "def f(x):\n    return x + 1", "input": "1", "output": "2"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gens = tmp_path / "gens.json"
    gens.write_text(json.dumps({"sample_0": ["2"]}))
    env = _no_shared_env(tmp_path, AZR_CRUXEVAL=str(data))
    proc = azr("eval", "score", "--benchmark", "cruxeval-o", "--generations", str(gens), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["problems"] == 1 and summary["pass@k"]["1"] == 1.0


def test_cruxeval_default_path_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azr.datapaths import cruxeval_path
    from azr.evaluate.cruxeval import default_path
    from azr.sandbox.bench import default_data_path

    monkeypatch.setenv("AZR_CRUXEVAL", str(tmp_path / "c.jsonl"))
    assert cruxeval_path() == default_path() == default_data_path() == tmp_path / "c.jsonl"
    monkeypatch.delenv("AZR_CRUXEVAL")
    monkeypatch.setenv("AZR_SHARED_DATA", str(tmp_path))
    assert cruxeval_path() is None
    (tmp_path / "cruxeval").mkdir()
    (tmp_path / "cruxeval" / "cruxeval.jsonl").write_text("")
    assert cruxeval_path() == tmp_path / "cruxeval" / "cruxeval.jsonl"
