"""`azr export`: tiny runs exported as Hugging Face directories and GGUF files, read back by
plain transformers (with azr blocked from import) and by the `gguf` reader."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
pytest.importorskip("peft")

from azr.config import resolve_config  # noqa: E402
from azr.errors import UserError  # noqa: E402
from azr.export import export_model  # noqa: E402

TEXT = "def f(x):\n    return [x, x * 2]\nassert f(3) == [3, 6]  # émoji ✓"
# fp32 logits of the exported directory against the live LoRA policy (adapters unmerged): the
# merge adds W + BA once, the policy computes Wx + B(Ax); measured differences are ~1e-6.
HF_ATOL = 1e-4
# f16 weights in the GGUF: logits of the tiny model move by a few 1e-4 (measured 3.7e-4).
GGUF_F16_ATOL = 5e-3


def azr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("azr: error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def make_run(root: Path, lora_rank: int, steps: tuple[int, ...] = (2, 3)) -> tuple[Path, Any]:
    """A run directory as `azr train` leaves it, with checkpoints of `steps` written by a
    real policy whose trained weights were moved away from the base (so a merge shows)."""
    from azr.buffers import TaskStore
    from azr.policy.factory import build_policy

    cfg = resolve_config("test", None, [{"model": {"lora_rank": lora_rank}}])
    run = root / f"run-r{lora_rank}"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(cfg.to_yaml())
    TaskStore(run / "buffers.sqlite", cap=64).close()
    (run / "metrics.jsonl").touch()
    policy = build_policy(cfg)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in policy.model.named_parameters():
            if p.requires_grad and (lora_rank == 0 or "lora_B" in name):
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    for step in steps:
        policy.steps = step
        ckpt = run / "checkpoints" / f"step-{step:06d}" / "policy"
        policy.save(ckpt)
    return run, policy


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    return make_run(tmp_path_factory.mktemp("lora"), lora_rank=4)


def policy_logits(policy: Any, ids: list[int]) -> np.ndarray:
    policy.model.eval()
    with torch.no_grad():
        return policy.model(torch.tensor([ids])).logits[0].float().numpy()


PLAIN_LOAD = textwrap.dedent(
    """
    import json, sys
    sys.modules["azr"] = None  # the export must load without azr
    import numpy as np, torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    path, text, out = sys.argv[1:4]
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    ids = tok(text, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    np.save(out, logits)
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    print(json.dumps({"ids": ids, "dtype": str(model.dtype), "chat": chat,
                      "class": type(model).__name__}))
    """
)


def plain_transformers(path: Path, tmp: Path) -> tuple[dict[str, Any], np.ndarray]:
    out = tmp / "logits.npy"
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_LOAD, str(path), TEXT, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)


def test_hf_export_of_a_lora_run_loads_in_plain_transformers_with_equal_logits(
    lora_run: tuple[Path, Any], tmp_path: Path
) -> None:
    run, policy = lora_run
    out = tmp_path / "hf"
    proc = azr("export", str(run), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["step"] == 3 and summary["format"] == "hf" and summary["dtype"] == "float32"
    assert summary["base_model"] == "tiny-random"
    names = set(summary["files"])
    assert {"model.safetensors", "config.json", "generation_config.json", "README.md"} <= names
    assert {"tokenizer.json", "tokenizer_config.json"} <= names
    info, logits = plain_transformers(out, tmp_path)
    assert info["class"] == "LlamaForCausalLM" and info["dtype"] == "torch.float32"
    assert info["ids"] == policy.tokenizer(TEXT, add_special_tokens=False).input_ids
    assert "<|im_start|>assistant" in info["chat"]  # the chat template travelled with it
    expected = policy_logits(policy, info["ids"])  # the live policy, LoRA not merged
    assert np.abs(logits - expected).max() < HF_ATOL
    # The merge is the policy's own: every exported tensor equals merged_weights().
    from safetensors.numpy import load_file

    saved = load_file(str(out / "model.safetensors"))
    merged = {k: v.detach().numpy() for k, v in policy.merged_weights()}
    assert set(saved) == set(merged)
    for key, value in merged.items():
        np.testing.assert_allclose(saved[key], value, atol=1e-6)
    card = (out / "README.md").read_text()
    assert "tiny-random" in card and "LoRA adapter (rank 4) merged" in card
    assert "| steps | 3 of 2 planned |" in card and "```yaml" in card and "lora_rank: 4" in card


def test_export_step_forms_and_bf16(lora_run: tuple[Path, Any], tmp_path: Path) -> None:
    run, _ = lora_run
    by_step = export_model(f"{run}@2", tmp_path / "a", "hf", dtype="bf16", say=lambda _l: None)
    assert by_step["step"] == 2 and by_step["dtype"] == "bfloat16"
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["dtype"] == "bfloat16" and config["tie_word_embeddings"] is True
    ckpt_dir = run / "checkpoints" / "step-000003"
    for i, name in enumerate((str(ckpt_dir), str(ckpt_dir / "policy"))):
        res = export_model(name, tmp_path / f"b{i}", "hf", say=lambda _l: None)
        assert res["step"] == 3 and res["source"] == str(ckpt_dir / "policy")
    plain = export_model("tiny-random", tmp_path / "c", "hf", say=lambda _l: None)
    assert plain["step"] is None
    assert "without any azr training" in (tmp_path / "c" / "README.md").read_text()


def test_full_fine_tune_run_exports_its_weights(tmp_path: Path) -> None:
    run, policy = make_run(tmp_path, lora_rank=0, steps=(1,))
    export_model(str(run), tmp_path / "out", "hf", say=lambda _l: None)
    from safetensors.numpy import load_file

    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    for key, value in policy.merged_weights():
        np.testing.assert_array_equal(saved[key], value.detach().numpy())
    assert "full fine-tuning" in (tmp_path / "out" / "README.md").read_text()


def _unpermute(rows: np.ndarray, heads: int) -> np.ndarray:
    """Inverse of the exporter's per-head reordering of q/k rows (interleaved -> halves)."""
    half = rows.shape[0] // heads // 2
    return rows.reshape(heads, half, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def test_gguf_export_round_trips_tensors_tokenizer_and_logits(
    lora_run: tuple[Path, Any], tmp_path: Path
) -> None:
    run, policy = lora_run
    out = tmp_path / "gg"
    proc = azr("export", f"{run}@3", "--out", str(out), "--format", "gguf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    path = out / "gg.gguf"
    assert path.is_file() and (out / "README.md").is_file()
    reader = gguf.GGUFReader(path)
    field = reader.fields
    assert field["general.architecture"].contents() == "llama"
    assert field["tokenizer.ggml.model"].contents() == "gpt2"
    assert field["tokenizer.ggml.pre"].contents() == "smollm"
    tok = policy.tokenizer
    tokens = field["tokenizer.ggml.tokens"].contents()
    assert len(tokens) == policy.model.get_input_embeddings().weight.shape[0]
    vocab = tok.get_vocab()
    assert all(tokens[i] == t for t, i in vocab.items())
    assert field["tokenizer.ggml.eos_token_id"].contents() == tok.eos_token_id
    assert field["tokenizer.chat_template"].contents() == tok.chat_template
    assert len(field["tokenizer.ggml.merges"].contents()) > 1000
    cfg = policy.model.config
    heads, kv = cfg.num_attention_heads, cfg.num_key_value_heads
    merged = {k: v.detach().numpy() for k, v in policy.merged_weights()}
    by_name = {t.name: t for t in reader.tensors}
    assert "output.weight" not in by_name  # tied: llama.cpp reuses token_embd
    assert len(by_name) == len(merged)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    for key, value in merged.items():
        t = by_name[names.get_name(key, try_suffixes=(".weight", ".bias"))]
        want = "F32" if value.ndim == 1 else "F16"
        assert t.tensor_type.name == want, (key, t.tensor_type.name)
        data = gguf.quants.dequantize(t.data, t.tensor_type).reshape(value.shape)
        if key.endswith("q_proj.weight"):
            data = _unpermute(data, heads)
        elif key.endswith("k_proj.weight"):
            data = _unpermute(data, kv)
        np.testing.assert_allclose(data, value, atol=2e-3, rtol=2e-3)
    # azr's own GGUF loader (transformers underneath) reads model and tokenizer back.
    from azr.policy.models import load_model

    model, tok2 = load_model(str(path))
    ids = tok(TEXT, add_special_tokens=False).input_ids
    assert tok2(TEXT, add_special_tokens=False).input_ids == ids
    assert tok2.decode(ids) == tok.decode(ids)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(logits - policy_logits(policy, ids)).max() < GGUF_F16_ATOL


def test_gguf_bf16_and_qwen2_architecture(tmp_path: Path) -> None:
    """A tiny Qwen2 model (q/k/v biases, untied head, no row reordering) as a directory name."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from azr.policy.models import smollm2_tokenizer

    tok = smollm2_tokenizer(fallback=True)
    config = AutoConfig.for_model(
        "qwen2",
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    src = tmp_path / "qwen-tiny"
    model.save_pretrained(src)
    tok.save_pretrained(src)
    res = export_model(str(src), tmp_path / "q", "gguf", dtype="bfloat16", say=lambda _l: None)
    assert res["dtype"] == "bfloat16"
    path = tmp_path / "q" / "q.gguf"
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.architecture"].contents() == "qwen2"
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "BF16" and types["blk.0.attn_q.bias"] == "F32"
    assert "output.weight" in types  # untied head kept
    back = AutoModelForCausalLM.from_pretrained(tmp_path / "q", gguf_file="q.gguf").eval()
    ids = tok(TEXT, add_special_tokens=False).input_ids
    with torch.no_grad():
        a = model(torch.tensor([ids])).logits
        b = back(torch.tensor([ids])).logits
    assert (a - b).abs().max().item() < 2e-2  # bf16 keeps 8 bits of mantissa


def test_bad_inputs_are_one_line_errors(lora_run: tuple[Path, Any], tmp_path: Path) -> None:
    run, _ = lora_run
    one_line_error(
        azr("export", f"{run}@99", "--out", str(tmp_path / "x")),
        "no checkpoint of step 99",
        "kept: 2, 3",
    )
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "config.yaml").write_text((run / "config.yaml").read_text())
    (empty / "buffers.sqlite").write_bytes((run / "buffers.sqlite").read_bytes())
    with pytest.raises(UserError, match="has no checkpoint yet"):
        export_model(str(empty), tmp_path / "y")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    one_line_error(azr("export", str(run), "--out", str(busy)), "not empty", "--force")
    assert (busy / "keep.txt").read_text() == "mine"
    with pytest.raises(UserError, match="is an azr run directory"):
        export_model(str(tmp_path / "busy"), run, force=True)
    with pytest.raises(UserError, match="--format must be one of"):
        export_model(str(run), tmp_path / "z", "onnx")
    with pytest.raises(UserError, match="--dtype must be one of"):
        export_model(str(run), tmp_path / "z", "hf", dtype="int4")
    with pytest.raises(UserError, match="does not exist"):
        export_model("./no/such/run", tmp_path / "z")
    # An architecture GGUF export does not cover: refused before any weights load.
    from transformers import GPT2Config

    other = tmp_path / "gpt2-tiny"
    other.mkdir()
    GPT2Config(n_layer=1, n_embd=32, n_head=2).save_pretrained(other)
    one_line_error(
        azr("export", str(other), "--out", str(tmp_path / "g"), "--format", "gguf"),
        "supports the llama and qwen2 architectures, not 'gpt2'",
    )
    res = export_model(str(run), busy, "hf", force=True, say=lambda _l: None)  # --force replaces
    assert not (busy / "keep.txt").exists() and res["files"]["model.safetensors"] > 0


def test_model_card_shows_results_found_in_the_run(
    lora_run: tuple[Path, Any], tmp_path: Path
) -> None:
    run, _ = lora_run
    ev = run / "eval"
    ev.mkdir(exist_ok=True)
    row = {
        "benchmark": "cruxeval-o",
        "model": str(run),
        "n": 4,
        "problems": 50,
        "scoring": "official",
        "pass@k": {"1": 0.125, "4": 0.3},
        "ci95": {"1": [0.08, 0.17], "4": [0.2, 0.4]},
    }
    (ev / "summary.json").write_text(json.dumps({"results": [row], "paired": []}))
    rate = {"value": 0.5, "lo": 0.25, "hi": 0.75, "items": 12}
    study = {"step": 0, "label": "step-0", "solver": {"deduction": {"solve_rate": rate}},
             "proposer": {}, "samples": [{"text": "x"}]}  # fmt: skip
    (run / "eval-step-0.json").write_text(json.dumps(study))
    try:
        export_model(str(run), tmp_path / "card", "hf", say=lambda _l: None)
        card = (tmp_path / "card" / "README.md").read_text()
    finally:
        (run / "eval-step-0.json").unlink()
        (ev / "summary.json").unlink()
    assert "| model | benchmark | problems | n | pass@1 (95 % CI) | pass@4 (95 % CI) |" in card
    assert "| 50 | 4 | 12.5 % [8.0, 17.0] | 30.0 % [20.0, 40.0] |" in card
    assert "| solver deduction solve rate | 50.0 % [25.0, 75.0] (12) |" in card
