"""The base-vs-trained harness (azr.evaluate.learning) with the scripted oracle policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azr.config import resolve_config
from azr.evaluate.learning import build_heldout, evaluate, load_cruxeval
from azr.policy.scripted import ScriptedPolicy
from azr.selfplay.trainer import default_executor
from azr.tasks.types import get
from test_selfplay_helpers import oracle_policy

CRUX = Path(__file__).resolve().parents[2] / "shared" / "data" / "cruxeval" / "cruxeval.jsonl"


@pytest.fixture(scope="module")
def cfg():  # type: ignore[no-untyped-def]
    return resolve_config(
        "test",
        None,
        [{"sampling": {"proposer_max_new_tokens": 1024, "solver_max_new_tokens": 1024}}],
    )


def test_heldout_then_evaluate_reports_rates_with_cis(cfg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with default_executor(cfg) as ex:
        rows = build_heldout(cfg, oracle_policy(), ex, per_type=3, rounds=2)
        counts = {t: sum(r["task_type"] == t for r in rows) for t in cfg.selfplay.task_types}
        assert all(c >= 1 for c in counts.values()), counts
        # The identity seeds are not held-out tasks (induction may reuse their program).
        identity = "def f(x):\n    return x"
        assert all(r["task"]["program"] != identity for r in rows if r["task_type"] != "induction")
        res = evaluate(cfg, oracle_policy(), ex, rows, [], n=4, proposals_per_type=3)
        garbage = evaluate(
            cfg, ScriptedPolicy(["no tags"]), ex, rows, [], n=2, proposals_per_type=2
        )
    assert set(res["proposer"]) == set(cfg.selfplay.task_types)  # the run's types only
    for t in cfg.selfplay.task_types:
        solve = res["solver"][t]["solve_rate"]
        assert solve["items"] == counts[t]
        assert solve["lo"] <= solve["value"] <= solve["hi"]
        assert res["solver"][t]["format_rate"]["value"] == 1.0
        assert res["proposer"][t]["valid_rate"]["value"] == 1.0
        assert set(res["solver"][t]["pass_at_k"]) == {"1", "2", "3", "4"}
        # A policy that never writes the format scores zero everywhere.
        assert garbage["solver"][t]["format_rate"]["value"] == 0.0
        assert garbage["proposer"][t]["valid_rate"]["value"] == 0.0
    assert json.dumps(res)  # serialisable as written by benchmarks/learning.py


@pytest.mark.skipif(not CRUX.is_file(), reason="needs ../shared/data/cruxeval")
def test_cruxeval_subset_is_fixed_and_graded_as_deduction(cfg) -> None:  # type: ignore[no-untyped-def]
    a, b = load_cruxeval(CRUX, 5), load_cruxeval(CRUX, 5)
    assert a == b and len(a) == 5
    gold = a[0].output
    answer = f"reasoning</think>\n<answer>\n```output\n{gold}\n```\n</answer>"
    with default_executor(cfg) as ex:
        res = evaluate(cfg, ScriptedPolicy([answer]), ex, [], a[:1], n=2, proposals_per_type=1)
    assert res["solver"]["cruxeval-o"]["solve_rate"]["value"] == 1.0
    assert res["solver"]["cruxeval-o"]["example_copy_rate"]["value"] == 0.0
    shown = get("deduction").example_answer  # the worked example's answer, wrong here
    copy = f"x</think>\n<answer>\n```output\n{shown}\n```\n</answer>"
    with default_executor(cfg) as ex:
        res = evaluate(cfg, ScriptedPolicy([copy]), ex, [], a[:2], n=2, proposals_per_type=1)
    assert res["solver"]["cruxeval-o"]["example_copy_rate"]["value"] == 1.0
    assert len(res["samples"]) == 4 and res["samples"][0]["text"] == copy
