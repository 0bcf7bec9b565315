"""The model card (README.md) of an exported model: where it comes from, under which licence,
how it was trained, what was measured, and how to load it without azr."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azr.export import Source

# The shipped models: their Hugging Face id, licence id (model card metadata) and licence text.
BASES: dict[str, tuple[str | None, str | None, str]] = {
    "qwen2.5-coder-0.5b": (
        "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "apache-2.0",
        "Apache-2.0 (the base model's licence; azr's packaging of its GGUF is unofficial)",
    ),
    "smollm2-135m": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0", "Apache-2.0"),
}
RANDOM_NOTE = "randomly initialised weights made by azr for tests: no licence terms, no skill"


def base_info(name: str) -> tuple[str | None, str | None, str]:
    """(hub id, licence id, licence text) of the model a training run started from."""
    from azr.policy.models import ALIASES

    key = ALIASES.get(name, name)
    if key in BASES:
        return BASES[key]
    if key.startswith("random:"):
        return None, None, RANDOM_NOTE
    if "/" in name and not Path(name).expanduser().exists():
        return name, None, f"see the licence of {name} on its model card"
    return None, None, "unknown: see the licence of the model this run started from"


def _front_matter(hub_id: str | None, licence: str | None) -> str:
    lines = ["---"]
    if licence:
        lines.append(f"license: {licence}")
    if hub_id:
        lines.append(f"base_model: {hub_id}")
    lines += ["library_name: transformers", "tags:", "- azr", "- absolute-zero", "- self-play"]
    lines.append("---")
    return "\n".join(lines)


def _read_run_config(run_dir: Path | None) -> dict[str, Any] | None:
    if run_dir is None:
        return None
    import yaml

    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _results_section(run_dir: Path | None) -> str:
    from azr.report.results import eval_table, find_results, markdown_table, study_table

    if run_dir is None:
        return "No run directory: nothing measured to report."
    found = find_results(run_dir)
    if not found:
        return (
            "None in the run directory. Measure with `benchmarks/learning.py eval --out RUN` "
            "(held-out self-play tasks and CRUXEval-O) or `azr eval --model RUN ... --out "
            "RUN/eval`; the report and a new export then show the results."
        )
    parts = []
    for ev in found.evals:
        where = ev.path.relative_to(run_dir) if ev.path != run_dir else Path(".")
        parts.append(f"`azr eval` (`{where}/summary.json`), pass@k with 95 % bootstrap CIs:\n")
        parts.append(markdown_table(*eval_table(ev)))
    for study in found.studies:
        where = study.path.relative_to(run_dir) if study.path != run_dir else Path(".")
        parts.append(
            f"`benchmarks/learning.py` (`{where}/eval-*.json`): rates with 95 % bootstrap CIs "
            "and item counts, base model (step 0) and checkpoints:\n"
        )
        parts.append(markdown_table(*study_table(study)))
    return "\n\n".join(parts)


def _usage(fmt: str, out: Path, files: list[Path]) -> str:
    if fmt == "gguf":
        gguf_name = next((f.name for f in files if f.suffix == ".gguf"), "model.gguf")
        return (
            "```bash\n"
            f"llama-cli -m {out.name}/{gguf_name} -cnv   # llama.cpp\n"
            f"# Ollama: a Modelfile with the line  FROM ./{gguf_name}\n"
            "```\n\n"
            "In Python, transformers reads the file too: "
            f'`AutoModelForCausalLM.from_pretrained("{out.name}", gguf_file="{gguf_name}")`.'
        )
    return (
        "```python\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{out.name}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{out.name}")\n'
        'messages = [{"role": "user", "content": "What does f(3) return for def f(x): '
        'return x * 2?"}]\n'
        "ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
        'return_tensors="pt")\n'
        "print(tokenizer.decode(model.generate(ids, max_new_tokens=256)[0]))\n"
        "```\n\n"
        f"vLLM serves it as it is: `vllm serve {out.name}`."
    )


def model_card(
    source: Source, fmt: str, dtype: str, params: int, files: list[Path], out: Path
) -> str:
    """The README.md of an export."""
    import yaml

    from azr import __version__
    from azr.export import base_chain

    chain = base_chain(source)
    base = chain[-1]
    hub_id, licence, licence_text = base_info(base)
    config = _read_run_config(source.run_dir)
    meta = source.meta
    lora = bool(meta.get("lora"))
    trained = source.checkpoint is not None
    title = out.name
    lines = [_front_matter(hub_id, licence), "", f"# {title}", ""]
    if trained:
        what = (
            f"its LoRA adapter (rank {meta.get('config', {}).get('lora_rank', '?')}) merged into "
            "the weights"
            if lora
            else "all weights trained (full fine-tuning)"
        )
        lines.append(
            f"{base} trained by **Absolute Zero self-play** with azr {__version__}: the model "
            "proposes its own Python code-reasoning tasks (deduction, abduction, induction), "
            f"solves them, and a sandboxed executor is the only judge; {what}."
        )
    else:
        lines.append(f"{base}, exported by azr {__version__} without any azr training.")
    lines.append("")
    rows = [("base model", f"{base}" + (f" ({hub_id})" if hub_id and hub_id != base else ""))]
    rows.append(("licence", licence_text))
    if len(chain) > 1:
        rows.append(("trained from", " <- ".join(chain)))
    if trained:
        run = str(source.run_dir) if source.run_dir else str(source.checkpoint)
        rows.append(("run", run))
        step = source.step if source.step is not None else "?"
        planned = (config or {}).get("run", {}).get("steps")
        rows.append(
            ("steps", f"{step}" + (f" of {planned} planned" if planned is not None else ""))
        )
        rows.append(("policy updates", str(meta.get("steps", "?"))))
    rows += [
        ("format", f"{fmt} ({dtype})"),
        ("parameters", f"{params:,}"),
        ("exported", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("exported with", f"azr export {source.name} --format {fmt} --dtype {dtype}"),
    ]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v.replace('|', '/')} |" for k, v in rows), ""]
    lines += ["## Use", "", _usage(fmt, out, files), ""]
    lines += ["## Measured results", "", _results_section(source.run_dir), ""]
    if config is not None:
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False).strip()
        lines += ["## Training config", "", "The run's resolved `config.yaml`:", ""]
        lines += ["```yaml", text, "```", ""]
    elif trained and meta.get("config"):
        lines += ["## Policy settings", "", "```json", json.dumps(meta["config"], indent=1)]
        lines += ["```", ""]
    lines += [
        "## Limits",
        "",
        "Self-play on a small budget mostly teaches the shape of a reply; compare the measured "
        "results above with the base model's before relying on this model for anything.",
        "",
    ]
    return "\n".join(lines)
