"""Typed training configuration: defaults, presets (YAML), files, overrides and clear errors.

Resolution order, later wins: field defaults -> preset (`src/azr/configs/<name>.yaml`) -> a
config file (`--config`) -> `--set key=value` and dedicated flags. Every mistake becomes one
`UserError` line naming the key and what is allowed.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from azr.errors import UserError

DEFAULT_PRESET = "cpu-qwen"


def _default_task_types() -> list[str]:
    from azr.tasks.types import default_enabled

    return list(default_enabled())


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Section):
    """Which model to train and where."""

    name: str = Field(default="smollm2-135m", description="model name, local directory or hub id")
    device: str = Field(
        default="cpu", pattern=r"^(cpu|auto|cuda(:\d+)?)$", description="cpu, cuda, cuda:N or auto"
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="master weights; auto = fp32 (bf16 autocast on GPU)"
    )
    lora_rank: int = Field(default=0, ge=0, description="0 = full fine-tuning, >0 = LoRA adapters")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA scaling numerator (alpha / rank)")
    lora_dropout: float = Field(default=0.0, ge=0, lt=1, description="dropout on LoRA adapters")
    lora_target_modules: str | list[str] = Field(
        default="all-linear", description="modules that get LoRA adapters (peft's names)"
    )

    @field_validator("lora_target_modules")
    @classmethod
    def _some_lora_targets(cls, value: str | list[str]) -> str | list[str]:
        if not value or (isinstance(value, list) and not all(value)):
            raise ValueError("name at least one module (or all-linear)")
        return value

    generation_dtype: Literal["float32", "bfloat16"] | None = Field(
        default=None,
        description="sample with a copy of the weights in this dtype, refreshed after every "
        "update (LoRA merged); none = sample with the trained model",
    )
    generator: Literal["auto", "hf", "vllm"] = Field(
        default="auto",
        description="what samples: vllm (an inference engine serving the current weights, "
        "synced after every update), hf (the embedded sampler), or auto (vllm when installed, "
        "hf for random test models)",
    )
    engine_kv_cache_gb: float = Field(
        default=2.0,
        gt=0,
        description="vllm on CPU: RAM for the engine's KV cache (GB; 2 GB holds ~170k tokens of "
        "Qwen2.5-0.5B, several steps' worth)",
    )
    engine_gpu_memory: float = Field(
        default=0.35,
        gt=0,
        lt=1,
        description="vllm on CUDA: the engine's share of GPU memory (the learner uses the rest)",
    )
    cpu_autocast: bool = Field(
        default=False,
        description="bf16 autocast for the update on CPU (fast on CPUs with native bf16)",
    )
    cuda_autocast: bool = Field(
        default=True, description="bf16 autocast on CUDA for fp32 master weights"
    )
    gradient_checkpointing: bool = Field(default=False, description="trade compute for memory")
    prompt_style: Literal["chat", "base"] = Field(
        default="chat", description="chat template (instruct models) or the R1 base wrapper"
    )


class OptimConfig(_Section):
    """The policy update (PPO clipped surrogate, one on-policy step per batch)."""

    lr: float = Field(default=1e-6, gt=0, description="AdamW learning rate (constant)")
    weight_decay: float = Field(default=0.01, ge=0, description="AdamW weight decay")
    grad_clip: float = Field(default=1.0, gt=0)
    clip_ratio: float = Field(default=0.2, gt=0, description="PPO ratio clip, both sides")
    clip_ratio_low: float | None = Field(
        default=None, gt=0, description="PPO ratio clip below 1; none = clip_ratio"
    )
    clip_ratio_high: float | None = Field(
        default=None,
        gt=0,
        description="PPO ratio clip above 1 (DAPO's clip-higher); none = clip_ratio",
    )
    clip_ratio_c: float | None = Field(
        default=None, gt=1, description="dual-clip bound for negative advantages; none = off"
    )
    betas: tuple[float, float] = Field(default=(0.9, 0.999), description="AdamW betas")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in value):
            raise ValueError("each beta must be in [0, 1)")
        return value

    entropy_coef: float = Field(default=0.001, ge=0)
    kl_coef: float = Field(
        default=0.0, ge=0, description="0 = no reference model (as the reference)"
    )
    micro_batch_size: int = Field(
        default=4, ge=1, description="sequences per forward/backward pass"
    )
    prompt_grad: bool = Field(
        default=True,
        description="back-propagate through the prompt tokens; false reads the prompt without "
        "gradient (about half the update cost; the gradient then misses the prompt's KV path)",
    )


class SamplingConfig(_Section):
    """Generation settings for proposers and solvers."""

    temperature: float = Field(default=1.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    proposer_max_new_tokens: int = Field(default=512, ge=1)
    solver_max_new_tokens: int = Field(default=512, ge=1)
    generate_batch_size: int = Field(
        default=64, ge=1, description="rows (prompt x sample) per generation batch in the policy"
    )
    max_prompt_tokens: int | None = Field(
        default=None, ge=1, description="keep only the last N prompt tokens; none = all"
    )


class SelfPlayConfig(_Section):
    """The Absolute Zero loop (docs/algorithm.md, section 2)."""

    batch_size: int = Field(default=4, ge=1, description="sequences per task type x role per step")
    task_type_modules: list[str] = Field(
        default_factory=list,
        description="Python modules to import before task_types is read: each registers its "
        "task types (plugins installed as packages load through the azr.task_types entry "
        "point group without this)",
    )

    @field_validator("task_type_modules")
    @classmethod
    def _import_task_type_modules(cls, value: list[str]) -> list[str]:
        from azr.tasks.types import load

        for module in value:
            try:
                load(module)
            except Exception as exc:  # any failure of a module named here is the config's
                raise ValueError(f"task type module {module!r} did not load: {exc}") from None
        return value

    task_types: list[str] = Field(
        default_factory=_default_task_types,
        min_length=1,
        description="task types trained, in this order (ablations drop some, others add one); "
        "any registered task type; default: those whose spec is default_enabled (the paper's "
        "three)",
    )

    @field_validator("task_types")
    @classmethod
    def _known_task_types(cls, value: list[str]) -> list[str]:
        from azr.tasks.types import names

        unknown = [t for t in value if t not in names()]
        if unknown:
            raise ValueError(f"unknown task type(s) {unknown}; use some of: {', '.join(names())}")
        if len(set(value)) != len(value):
            raise ValueError(f"a task type is listed twice: {value}")
        return value

    references: int = Field(default=6, ge=0, description="K reference tasks in a proposer prompt")
    learnability_samples: int = Field(default=8, ge=1, description="n solver attempts per proposal")
    induction_inputs: int = Field(
        default=10, ge=2, description="inputs an induction proposer writes"
    )
    induction_visible: int = Field(default=5, ge=1, description="of those, shown to the solver")
    seed_buffer_size: int = Field(default=256, ge=1, description="tasks per buffer before training")
    seed_max_rounds: int = Field(
        default=16,
        ge=0,
        description="bounded proposal rounds while seeding; then go on with what exists",
    )
    buffer_cap: int = Field(default=16384, ge=1, description="tasks kept per buffer (newest win)")
    solver_recency_halflife: float = Field(
        default=0.0,
        ge=0,
        description="solver fill sampling weight halves every this many steps; 0 = uniform",
    )
    solve_tasks_from: Literal["same-step", "previous-step"] = Field(
        default="same-step",
        description="solver batch leads with this step's tasks (paper) or last step's (reference)",
    )
    reward: Literal["paper", "legacy"] = Field(
        default="paper",
        description="paper: Eq. 6 (format error -1, well formed but wrong/invalid -0.5, else the "
        "role reward); legacy: azr's earlier -1 / zero_reward_penalty scheme, for ablations",
    )
    end_closes_answer: bool = Field(
        default=True,
        description="a reply the model ended itself (end-of-sequence, not the token limit) with "
        "its <answer> still open counts as closed there; false: only a written </answer> closes",
    )
    solver_prefill: bool = Field(
        default=False,
        description="start every solver reply for the model up to its answer block "
        "('</think>', '<answer>', the block's opening fence), so the solver answers at once "
        "without reasoning (the reasoning envelope and the grading stay as they are); measured "
        "on a 0.5B model in docs/results.md",
    )
    zero_reward_penalty: float = Field(
        default=0.0,
        ge=-1,
        le=0,
        description="legacy scheme only: reward of a well-formed response with role reward 0",
    )
    advantage: str = Field(
        default="trr++",
        description="a registered advantage estimator: trr++ (per-sample, the paper), "
        "token_whiten (the reference), grpo (per-prompt baseline over the n learnability "
        "samples, which then join the update)",
    )
    skip_zero_advantage: bool = Field(
        default=False,
        description="leave responses whose advantage is exactly 0 out of the update (they add "
        "no policy gradient; only their entropy-bonus term is lost); saves update time",
    )

    @field_validator("advantage")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        from azr.advantages import get_adv_estimator

        get_adv_estimator(value)  # ValueError naming the registered ones
        return value


class ExecutorConfig(_Section):
    """The sandboxed executor."""

    workers: int | None = Field(default=None, ge=1, description="None = one per core")
    timeout_s: float = Field(default=10.0, gt=0)
    memory_mb: int = Field(default=2048, ge=64)
    isolation: Literal["auto", "bwrap", "none"] = Field(
        default="auto", description="auto, bwrap or none"
    )


class RunConfig(_Section):
    """Length of the run, seeding of randomness, checkpoints and logs."""

    steps: int = Field(default=10, ge=0, description="train until this step number")
    seed: int = Field(default=0, ge=0)
    checkpoint_every: int = Field(
        default=1, ge=1, description="steps between checkpoints; resume restarts after the last one"
    )
    keep_checkpoints: int = Field(
        default=1,
        ge=1,
        description="newest checkpoints kept on disk; only the newest keeps the optimiser state "
        "(all that resume needs), older ones keep their weights for evaluation",
    )
    keep_every: int = Field(
        default=0,
        ge=0,
        description="also keep the checkpoint of every step that is a multiple of this (weights "
        "only, for evaluating the run's progress, `RUN@STEP`); 0 = none",
    )
    tensorboard: bool = Field(default=True, description="write TensorBoard events when installed")
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"],
        description="experiment trackers (`--report-to`): any of tensorboard, wandb, mlflow; "
        "[] or none for no tracking (azr.tracking)",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _known_trackers(cls, value: Any) -> list[str]:
        from azr.tracking import parse_report_to

        try:
            return parse_report_to([] if value is None else value)
        except UserError as exc:
            raise ValueError(str(exc).removeprefix("--report-to: ")) from None


class TrainConfig(_Section):
    """Everything `azr train` needs; `config.yaml` in a run directory is this, resolved."""

    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig())
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig())
    selfplay: SelfPlayConfig = Field(default_factory=lambda: SelfPlayConfig())
    executor: ExecutorConfig = Field(default_factory=lambda: ExecutorConfig())
    run: RunConfig = Field(default_factory=lambda: RunConfig())

    def to_yaml(self) -> str:
        """The resolved config as YAML (what `config.yaml` holds)."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- presets


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    root = importlib.resources.files("azr") / "configs"
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The raw override mapping of preset `name`."""
    names = preset_names()
    if name not in names:
        raise UserError(f"unknown preset '{name}' (allowed: {', '.join(names)})")
    text = (importlib.resources.files("azr") / "configs" / f"{name}.yaml").read_text()
    return _parse_yaml(text, f"preset '{name}'")


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{where}: not valid YAML ({first})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{where}: must be a mapping of config sections")
    return data


def load_file(path: Path) -> dict[str, Any]:
    """The raw mapping of a YAML config file (a preset name may be given as key `preset`)."""
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    return _parse_yaml(path.read_text(), f"config file {path}")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge `over` into a copy of `base`."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_assignment(text: str) -> dict[str, Any]:
    """`a.b=value` (value parsed as YAML) -> {'a': {'b': value}}."""
    if "=" not in text:
        raise UserError(f"--set expects KEY=VALUE, e.g. selfplay.batch_size=8 (got '{text}')")
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise UserError(f"--set: empty key in '{text}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def _allowed(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names allowed at `loc` (the parent of an unknown key)."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return []
        current = field.annotation
    return list(current.model_fields)


def _describe(exc: ValidationError) -> str:
    """One line for the first validation error: key, problem, what is allowed."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        allowed = _allowed(TrainConfig, loc[:-1])
        return f"config: unknown key '{key}' (allowed: {', '.join(allowed)})"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be", "must be")
    if err["type"] == "string_pattern_mismatch":
        field = TrainConfig.model_fields.get(str(loc[0])) if loc else None
        sub = getattr(field, "annotation", None)
        info = getattr(sub, "model_fields", {}).get(str(loc[-1])) if sub is not None else None
        msg = f"must be one of: {info.description}" if info is not None else msg
    got = err.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"config: {key}: {msg}{got_text}"


def build_config(layers: list[dict[str, Any]]) -> TrainConfig:
    """Merge raw override layers onto the defaults and validate."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    try:
        cfg = TrainConfig.model_validate(merged)
    except ValidationError as exc:
        raise UserError(_describe(exc)) from None
    sp = cfg.selfplay
    if sp.induction_visible >= sp.induction_inputs:
        raise UserError(
            "config: selfplay.induction_visible must be smaller than selfplay.induction_inputs "
            f"(got {sp.induction_visible} >= {sp.induction_inputs})"
        )
    return cfg


def resolve_config(
    preset: str | None = None,
    config_file: Path | None = None,
    overrides: list[dict[str, Any]] | None = None,
) -> TrainConfig:
    """Defaults, then a preset (default `cpu-qwen`), then a file, then overrides."""
    file_layer = load_file(config_file) if config_file is not None else {}
    file_preset = file_layer.pop("preset", None)
    name = preset or file_preset or DEFAULT_PRESET
    if not isinstance(name, str):
        raise UserError("config: preset must be a preset name")
    return build_config([load_preset(name), file_layer, *(overrides or [])])
