"""Task types from outside azr (issue 20): a package installed with an `azr.task_types` entry
point, or a module named in the config, adds a type that trains end to end.

The plugin package is written into a temporary directory with its `.dist-info` (what pip
installs), so `importlib.metadata` finds its entry point exactly as it would an installed one.
Its type, `parity`, has its own task class (no azr class is extended but `TripletSpec`): the
solver says whether the program's output is an even or odd integer, or neither.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from azr.config import parse_assignment, resolve_config
from azr.errors import UserError
from azr.policy.scripted import ScriptedPolicy
from azr.report import write_report
from azr.selfplay import train
from azr.selfplay.progress import Progress
from azr.tasks import types
from test_selfplay_helpers import Oracle, _answer, _fences

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = '''
"""A task type outside azr: is the program's output an even or odd integer (or neither)?"""

from dataclasses import dataclass
from typing import Any

from azr.literals import NotALiteral, parse_literal
from azr.tasks.prompts import same_form
from azr.tasks.types import Plan
from azr.tasks.types.triplet import ExampleTask, TripletSpec


@dataclass(frozen=True)
class ParityTask:
    program: str
    input: str
    output: str

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program, "input": self.input, "output": self.output}


def parity(output: str) -> str:
    try:
        value = parse_literal(output)
    except NotALiteral:
        return "neither"
    if type(value) is not int:
        return "neither"
    return "even" if value % 2 == 0 else "odd"


class ParitySpec(TripletSpec):
    name = "parity"
    short = "par"
    task_class = ParityTask
    solver_blocks = {"parity": 1}
    answer_block = "parity"
    example_answer = "odd"
    examples = (ExampleTask("def f(x):\\n    return x + 2", "1", "1 + 2 = 3.", "odd"),)
    shown_block = "input"
    grading_runs_code = False
    summary = "asks whether the output is an even or odd integer, or neither."
    goal = "Write a program and one input. Someone will say whether its output is even or odd."
    solve_template = (
        "Is what this program returns an even or odd integer? Answer even, odd or neither."
        "\\n\\n{example}\\n\\nYour task:\\n```python\\n{program}\\n```\\n```input\\n{input}\\n```"
        "\\n\\n{reply}"
    )
    solve_reply = same_form("one ```parity block")

    def make_task(self, program, inp, result):
        return ParityTask(program, inp, result)

    def result_of(self, task):
        return task.output

    def from_dict(self, payload):
        return ParityTask(str(payload["program"]), str(payload["input"]), str(payload["output"]))

    def plan_grade(self, task, answer):
        gold = parity(task.output)
        if answer.strip() == gold:
            return Plan.now(True, "correct")
        return Plan.now(False, f"wrong: {answer.strip()} != {gold}")
'''


def _install(root: Path, package: str, body: str, entry_points: str | None) -> None:
    """Write `package` (one module) and, with `entry_points`, its dist-info as pip would."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(textwrap.dedent(body))
    if entry_points is not None:
        info = root / f"{package}-0.1.dist-info"
        info.mkdir()
        name = package.replace("_", "-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[azr.task_types]\n{entry_points}\n")


def _forget(*names: str) -> None:
    for name in names:
        types.unregister(name)
        types.PLUGIN_ERRORS.pop(name, None)


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path holding the `azr_parity` package and its entry point."""
    root = tmp_path / "site"
    _install(root, "azr_parity", PLUGIN, "parity = azr_parity:ParitySpec")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    try:
        yield root
    finally:
        _forget("parity")
        sys.modules.pop("azr_parity", None)


class ParityOracle(Oracle):
    """The loop's oracle, plus answers to parity prompts (right about half the time)."""

    def __call__(self, prompt: str, k: int) -> str:
        if "Is what this program returns an even or odd integer" in prompt:
            task = prompt.rsplit("Your task:", 1)[-1]
            program, inp = _fences(task, "python")[0], _fences(task, "input")[0]
            m = [int(x) for x in program.split("return x * ", 1)[-1].split(" + ")]
            try:
                value: object = int(inp) * m[0] + m[1]
            except ValueError:
                value = None  # the identity seed returns a string
            gold = "neither" if not isinstance(value, int) else ("odd" if value % 2 else "even")
            guess = gold if self._coin(prompt) else "prime"
            return _answer("parity", [("parity", guess)])
        return super().__call__(prompt, k)


def test_an_entry_point_plugin_trains_end_to_end(plugin_path: Path, tmp_path: Path) -> None:
    types.load_plugins()  # in a fresh process the first use of the registry does this
    assert types.names()[-1] == "parity"
    assert types.get("parity").default_enabled is False  # registered is not enabled
    assert "parity" not in resolve_config("test", None, []).selfplay.task_types
    layers = [
        {"run": {"steps": 2}},
        {"sampling": {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}},
        parse_assignment("selfplay.task_types=[deduction,parity]"),
        parse_assignment("selfplay.batch_size=3"),
    ]
    cfg = resolve_config("test", None, layers)
    run = tmp_path / "run"
    policy = ScriptedPolicy(ParityOracle())
    train(cfg, run, progress=Progress(quiet=True), policy_factory=lambda _c: policy)

    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    assert last["parity/proposer/valid_rate"] == 1.0
    assert last["parity/solver/count"] == 3
    assert last["buffer/parity"] > 1  # its identity seed and valid proposals
    # only the enabled types: no abduction or induction groups, seeds or buffers
    assert not [k for k in last if k.startswith(("abduction", "induction", "buffer/abd"))]
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    solved = [s for s in samples if s["task_type"] == "parity" and s["purpose"] == "solve"]
    assert {s["correct"] for s in solved} == {True, False}
    assert {s["task"]["output"] for s in solved if s["task"]}  # its own task class's JSON
    write_report(run)
    report = (run / "report.html").read_text()
    assert "buffer/parity (last step)" in report
    assert "<td>parity</td><td>solver</td>" in report and "parity / solver — latest" in report


def test_the_entry_point_loads_in_a_fresh_process(plugin_path: Path, tmp_path: Path) -> None:
    """`azr grade` in a new interpreter finds the plugin's type through its entry point."""
    rows = [
        {"id": "a", "task_type": "parity", "program": "def f(x):\n    return x", "input": "3",
         "output": "3", "completion": "...</think>\n<answer>\n```parity\nodd\n```\n</answer>"},
        {"id": "b", "task_type": "parity", "program": "def f(x):\n    return x", "input": "3",
         "output": "3", "completion": "...</think>\n<answer>\n```parity\neven\n```\n</answer>"},
    ]  # fmt: skip
    data = tmp_path / "grade.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(SRC)])}
    proc = subprocess.run(
        [sys.executable, "-m", "azr.cli", "grade", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert [(r["id"], r["correct"]) for r in out] == [("a", True), ("b", False)], proc.stderr


def test_a_module_named_in_the_config_registers_its_type(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "mods"
    body = PLUGIN.replace('name = "parity"', 'name = "parity_mod"').replace(
        'short = "par"', 'short = "pmo"'
    )
    body += "\nfrom azr.tasks.types import register\nregister(ParitySpec())\n"
    _install(root, "azr_parity_mod", body, None)
    monkeypatch.syspath_prepend(str(root))
    try:
        with pytest.raises(UserError, match="unknown task type"):
            resolve_config("test", None, [parse_assignment("selfplay.task_types=[parity_mod]")])
        cfg = resolve_config(
            "test",
            None,
            [
                parse_assignment("selfplay.task_type_modules=[azr_parity_mod]"),
                parse_assignment("selfplay.task_types=[parity_mod]"),
            ],
        )
        assert cfg.selfplay.task_types == ["parity_mod"]
        # loading it again (a resumed run re-reads its config) is harmless
        resolve_config(
            "test", None, [parse_assignment("selfplay.task_type_modules=[azr_parity_mod]")]
        )
        with pytest.raises(UserError, match="task type module 'no_such_module' did not load"):
            resolve_config(
                "test", None, [parse_assignment("selfplay.task_type_modules=[no_such_module]")]
            )
    finally:
        _forget("parity_mod")
        sys.modules.pop("azr_parity_mod", None)


def test_a_broken_plugin_is_skipped_and_named(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "broken"
    _install(root, "azr_broken", "raise ImportError('needs numpy 9')\n", "broken = azr_broken:X")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    try:
        with pytest.warns(UserWarning, match="plugin broken .* did not load: needs numpy 9"):
            types.load_plugins()
        assert "broken" not in types.names()
        with pytest.raises(ValueError, match="plugins that did not load: broken"):
            types.get("broken")
    finally:
        _forget("broken")
        sys.modules.pop("azr_broken", None)


def test_a_type_name_is_any_identifier() -> None:
    spec = types.get("deduction")
    for bad in ("two words", "a/b", "", "9lives"):
        clone = type("Clone", (type(spec),), {"name": bad, "short": "cln"})()
        with pytest.raises(ValueError, match="must be a Python identifier"):
            types.register(clone)
    ok = type("Clone", (type(spec),), {"name": "code_e2", "short": "ce2"})()
    types.register(ok)
    try:
        assert "code_e2" in types.names()
        from azr.report.data import _GROUP_KEY

        assert _GROUP_KEY.match("code_e2/solver/reward")
    finally:
        _forget("code_e2")
