"""Run directories as model names (`RUN`, `RUN@N`), what a run keeps on disk, and quiet loading."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _fake_run(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("{}\n")
    (path / "buffers.sqlite").write_bytes(b"")


def _fake_checkpoint(run: Path, step: int, complete: bool = True) -> Path:
    policy = run / "checkpoints" / f"step-{step:06d}" / "policy"
    policy.mkdir(parents=True)
    if complete:
        (policy / "policy.json").write_text("{}")
    return policy


# ------------------------------------------------------------- 5. RUN and RUN@N


def test_run_checkpoint_resolution(tmp_path: Path) -> None:
    from azr.errors import UserError
    from azr.rundir import run_checkpoint

    run = tmp_path / "run"
    _fake_run(run)
    with pytest.raises(UserError, match="has no checkpoint yet"):
        run_checkpoint(str(run))
    two = _fake_checkpoint(run, 2)
    ten = _fake_checkpoint(run, 10)
    _fake_checkpoint(run, 11, complete=False)  # being written: not a checkpoint yet
    (run / "checkpoints" / ".tmp-step-000012").mkdir()
    assert run_checkpoint(str(run)) == ten
    assert run_checkpoint(f"{run}@2") == two
    assert run_checkpoint(f"{run}@10") == ten
    with pytest.raises(UserError, match=r"no checkpoint of step 3 \(kept: 2, 10"):
        run_checkpoint(f"{run}@3")
    with pytest.raises(UserError, match="not an azr run directory"):
        run_checkpoint(f"{tmp_path}@1")
    # Not a run directory: some other kind of model name.
    assert run_checkpoint("tiny-random") is None
    assert run_checkpoint(str(tmp_path)) is None
    assert run_checkpoint("Qwen/Qwen2.5-0.5B-Instruct") is None


def test_load_model_accepts_run_and_run_at_step(tmp_path: Path) -> None:
    from azr.policy.hf import create_policy
    from azr.policy.models import load_model

    run = tmp_path / "run"
    _fake_run(run)
    policy = create_policy("tiny-random")
    weight = policy.model.get_input_embeddings().weight
    policy.save(run / "checkpoints" / "step-000002" / "policy")
    at_two = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)
    policy.save(run / "checkpoints" / "step-000003" / "policy")
    at_three = weight.detach().clone()

    def embedding(name: str) -> torch.Tensor:
        model, _ = load_model(name)
        return model.get_input_embeddings().weight.detach()

    assert torch.equal(embedding(str(run)), at_three)
    assert torch.equal(embedding(f"{run}@3"), at_three)
    assert torch.equal(embedding(f"{run}@2"), at_two)


# ------------------------------------------------------------- 10. run size


def test_only_the_newest_checkpoint_keeps_optimizer_state(tmp_path: Path) -> None:
    from azr.config import RunConfig, resolve_config
    from azr.rundir import RunDir

    assert RunConfig().keep_checkpoints == 1  # by default: only what resume needs
    run = RunDir.create(tmp_path / "R", resolve_config("test"))
    try:
        for step in (1, 2, 3):
            tmp = run.begin_checkpoint(step)
            (tmp / "policy").mkdir()
            (tmp / "policy" / "optimizer.pt").write_bytes(b"x" * 100)
            (tmp / "policy" / "model.safetensors").write_bytes(b"w" * 50)
            run.finish_checkpoint(step, tmp, keep=2)
        kept = sorted(p.name for p in (run.path / "checkpoints").iterdir())
        assert kept == ["step-000002", "step-000003"]
        older = run.checkpoint_dir(2) / "policy"
        newest = run.checkpoint_dir(3) / "policy"
        assert not (older / "optimizer.pt").exists()
        assert (older / "model.safetensors").exists()  # still loadable as RUN@2
        assert (newest / "optimizer.pt").exists()  # resume needs it
    finally:
        run.close()


def test_keep_every_keeps_milestone_checkpoints_beside_the_newest(tmp_path: Path) -> None:
    from azr.config import resolve_config
    from azr.rundir import RunDir, run_checkpoint

    run = RunDir.create(tmp_path / "R", resolve_config("test"))
    try:
        for step in range(1, 8):
            tmp = run.begin_checkpoint(step)
            (tmp / "policy").mkdir()
            (tmp / "policy" / "optimizer.pt").write_bytes(b"x" * 100)
            (tmp / "policy" / "model.safetensors").write_bytes(b"w" * 50)
            (tmp / "policy" / "policy.json").write_text("{}")
            run.finish_checkpoint(step, tmp, keep=1, keep_every=3)
        kept = sorted(p.name for p in (run.path / "checkpoints").iterdir())
        assert kept == ["step-000003", "step-000006", "step-000007"]
        assert [s for s, _ in run.store.checkpoints()] == [3, 6, 7]
        assert not (run.checkpoint_dir(6) / "policy" / "optimizer.pt").exists()
        assert (run.checkpoint_dir(7) / "policy" / "optimizer.pt").exists()
    finally:
        run.close()
    assert run_checkpoint(f"{tmp_path / 'R'}@3") == run.checkpoint_dir(3) / "policy"


def test_run_size_is_measured_and_readable(tmp_path: Path) -> None:
    from azr.commands.train_checks import dir_size, human_size

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1" * 1500)
    (tmp_path / "y").write_bytes(b"1" * 500)
    assert dir_size(tmp_path) == 2000
    assert human_size(2000) == "2 kB"
    assert human_size(1_620_000_000) == "1.62 GB"
    assert human_size(540_000_000) == "540 MB"
    assert human_size(999) == "999 B"


# ------------------------------------------------------------- 8. noise


def test_generation_emits_no_cache_deprecation_warning() -> None:
    from azr.policy.generation import cache_kwarg, sample_batch
    from azr.policy.models import load_model

    model, tok = load_model("tiny-random")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = sample_batch(
            model,
            [[1, 2, 3], [4, 5]],
            max_new_tokens=3,
            pad_id=tok.pad_token_id,
            generator=torch.Generator().manual_seed(0),
        )
    assert all(len(r.token_ids) == 3 for r in rows)
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "past_key_values" in m], messages
    import inspect

    params = inspect.signature(type(model).forward).parameters
    assert cache_kwarg(model) == ("cache" if "cache" in params else "past_key_values")


def test_gguf_conversion_bar_is_one_rich_line(capfd: pytest.CaptureFixture[str]) -> None:
    import importlib

    from azr.policy.gguf_progress import LABEL, one_line_gguf_progress

    assert one_line_gguf_progress()
    loader = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    items = list(loader.tqdm(range(300), desc="Converting and de-quantizing GGUF tensors..."))
    assert items == list(range(300))
    err = capfd.readouterr().err
    assert "Converting and de-quantizing" not in err  # tqdm's bar would print its desc
    assert "it/s" not in err
    assert err == "" or LABEL in err
