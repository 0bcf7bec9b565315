"""The `gguf` export: one GGUF file (llama.cpp, Ollama) written with the `gguf` package.

Supported: the Llama and Qwen2 architectures with a byte-level BPE tokenizer (the two shipped
models and the random test models). Matrices are stored in the chosen 16-bit type (or f32);
one-dimensional tensors (norms, biases) stay f32, as llama.cpp's own converter keeps them.

Two details that a plain tensor copy would get wrong:
- llama.cpp's Llama graph applies rotary embeddings to interleaved pairs of a head's
  dimensions, transformers' to its two halves: the rows of every q and k projection are
  reordered per head so the two agree (Qwen2 uses the halves form in llama.cpp too: no
  reordering). transformers' GGUF loader undoes the same reordering when it reads the file.
- the token list covers every row of the embedding: rows past the tokenizer's vocabulary
  (Qwen pads its embedding) get placeholder tokens marked unused.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from azr.errors import UserError

# Pre-tokenizer names llama.cpp knows, by what the tokenizer's pre-tokenizer looks like.
QWEN2_SPLIT = (
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
)
SMOLLM_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>")


def _rope_theta(config: Any) -> float:
    """The RoPE base frequency (transformers 5 keeps it in `rope_parameters`)."""
    params = getattr(config, "rope_parameters", None) or {}
    kind = params.get("rope_type", "default") if isinstance(params, dict) else "default"
    scaling = getattr(config, "rope_scaling", None)
    if isinstance(scaling, dict) and scaling.get("rope_type", scaling.get("type")) != "default":
        kind = str(scaling.get("rope_type", scaling.get("type")))
    if kind not in ("default", None):
        raise UserError(f"--format gguf supports plain RoPE only; this model uses {kind!r} scaling")
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    if theta is None:
        theta = getattr(config, "rope_theta", None)
    return float(theta if theta is not None else 10000.0)


def _permute_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder each head's rows from halves order (transformers) to interleaved pairs
    (llama.cpp's Llama rotary form): row i of the first half goes to 2i, of the second to 2i+1."""
    rows = weight.shape[0]
    half = rows // heads // 2
    return weight.reshape(heads, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def pre_tokenizer_name(tokenizer_json: dict[str, Any]) -> str:
    """llama.cpp's name for how this tokenizer splits text before BPE."""
    added = [a.get("content") for a in tokenizer_json.get("added_tokens", [])]
    if tuple(added[: len(SMOLLM_SPECIALS)]) == SMOLLM_SPECIALS:
        return "smollm"  # SmolLM2's tokenizer (its own GGUF names it so)
    pre = tokenizer_json.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    for part in parts:
        if part.get("type") == "Split" and (part.get("pattern") or {}).get("Regex") == QWEN2_SPLIT:
            return "qwen2"
    if len(parts) == 1 and parts[0].get("type") == "ByteLevel" and parts[0].get("use_regex"):
        return "gpt2"
    return "default"


def _tokenizer_metadata(writer: Any, tokenizer: Any, n_vocab: int) -> None:
    """Tokens, token types, merges, special token ids, chat template."""
    import gguf

    with tempfile.TemporaryDirectory(prefix="azr-tok-") as tmp:
        tokenizer.save_pretrained(tmp)
        path = Path(tmp) / "tokenizer.json"
        if not path.is_file():
            raise UserError("--format gguf needs a fast (tokenizer.json) tokenizer")
        data = json.loads(path.read_text(encoding="utf-8"))
        model = data.get("model") or {}
        if model.get("type") != "BPE":
            raise UserError(f"--format gguf supports BPE tokenizers, not {model.get('type')!r}")
        tokens = [f"[PAD{i}]" for i in range(n_vocab)]
        types = [int(gguf.TokenType.UNUSED)] * n_vocab
        for text, idx in model["vocab"].items():
            if idx < n_vocab:
                tokens[idx] = text
                types[idx] = int(gguf.TokenType.NORMAL)
        for added in data.get("added_tokens", []):
            idx = int(added["id"])
            if idx < n_vocab:
                tokens[idx] = added["content"]
                special = added.get("special")
                types[idx] = int(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        if len(model["vocab"]) > n_vocab:
            raise UserError(
                f"the tokenizer has {len(model['vocab'])} tokens but the embedding {n_vocab} rows"
            )
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre_tokenizer_name(data))
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        # gguf's reader of tokenizer.json files: merges (either format) and special token ids.
        vocab = gguf.SpecialVocab(tmp, load_merges=True, n_vocab=n_vocab)
    for kind in ("bos", "eos", "unk", "pad"):
        idx = getattr(tokenizer, f"{kind}_token_id", None)
        if isinstance(idx, int) and idx < n_vocab:
            vocab.special_token_ids[kind] = idx
    plain = tokenizer("a", add_special_tokens=False).input_ids
    full = tokenizer("a", add_special_tokens=True).input_ids
    extra = len(full) > len(plain)
    vocab.add_special_token = {
        "bos": extra and full[0] == tokenizer.bos_token_id,
        "eos": extra and full[-1] == tokenizer.eos_token_id,
    }
    template = getattr(tokenizer, "chat_template", None)
    vocab.chat_template = template if isinstance(template, str) else None
    vocab.add_to_gguf(writer, quiet=True)


def write_gguf(model: Any, tokenizer: Any, path: Path, dtype: str, title: str) -> list[Path]:
    """Write `model` (Llama or Qwen2, fp32 weights in memory) and its tokenizer as a GGUF file."""
    import gguf
    import torch

    config = model.config
    arch_name = config.model_type
    arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}.get(arch_name)
    if arch is None:
        raise UserError(f"--format gguf supports llama and qwen2, not {arch_name!r}")
    layers = int(config.num_hidden_layers)
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    if arch_name == "llama" and getattr(config, "attention_bias", False):
        raise UserError("--format gguf: Llama models with attention biases are not supported")
    state = model.state_dict()
    n_vocab = int(state["model.embed_tokens.weight"].shape[0])
    tied = bool(getattr(config, "tie_word_embeddings", False))
    names = gguf.get_tensor_name_map(arch, layers)
    qtype = {
        "float32": gguf.GGMLQuantizationType.F32,
        "float16": gguf.GGMLQuantizationType.F16,
        "bfloat16": gguf.GGMLQuantizationType.BF16,
    }[dtype]
    file_type = {
        "float32": gguf.LlamaFileType.ALL_F32,
        "float16": gguf.LlamaFileType.MOSTLY_F16,
        "bfloat16": gguf.LlamaFileType.MOSTLY_BF16,
    }[dtype]

    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_type("model")
    writer.add_name(title)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(layers)
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_rope_dimension_count(head_dim)
    if head_dim * heads != config.hidden_size:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(int(file_type))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _tokenizer_metadata(writer, tokenizer, n_vocab)

    for hf_name, tensor in state.items():
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        target = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise UserError(f"--format gguf: no GGUF name for tensor {hf_name}")
        data = tensor.detach().to(device="cpu", dtype=torch.float32).numpy()
        if arch_name == "llama" and hf_name.endswith("self_attn.q_proj.weight"):
            data = _permute_rows(data, heads)
        elif arch_name == "llama" and hf_name.endswith("self_attn.k_proj.weight"):
            data = _permute_rows(data, kv_heads)
        data = np.ascontiguousarray(data)
        if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(target, data.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(target, data.astype(np.float16))
        else:
            writer.add_tensor(target, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return [path]
