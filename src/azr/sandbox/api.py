"""Public data types of the executor: configuration, requests, results, errors."""

from __future__ import annotations

from dataclasses import dataclass

from azr.errors import UserError
from azr.sandbox.rules import PROFILES

STATUSES = frozenset(
    {
        "ok",
        "syntax_error",
        "policy",
        "error",
        "timeout",
        "memory",
        "not_literal",
        "too_large",
        "nondeterministic",
        "crashed",
    }
)

# Where an "error" result's exception was raised (`ExecResult.where`): the program's top level,
# evaluating the expression's arguments (the input), the call of `f` itself (wrong arguments,
# `f` not a Python function), inside `f` (the called code), or rendering the returned value.
PLACES = frozenset({"program", "input", "call", "f", "output"})
# `ExecResult.exc_type` of a class that is neither a builtin nor a verified module attribute
# (one the program made) is this prefix and the class's name.
LOCAL_CLASS = "<program>."


# `SandboxConfig.isolation`, the `--isolation` flag and `executor.isolation` in configs:
# - "auto" (the default): the strongest OS boundary this machine can give, and never none.
#   bubblewrap is the only boundary azr has, so today "auto" is bubblewrap, checked at start-up;
#   when it is missing or cannot start, the executor refuses (SandboxUnavailable) rather than
#   run untrusted code unconfined. Should another boundary be added, "auto" may choose it.
# - "bwrap": bubblewrap and nothing else, with the same refusal. Pins today's behaviour.
# - "none": no OS boundary (only seccomp, rlimits and the static policy); an explicit opt-out
#   that warns, for machines where bubblewrap cannot run and the code is trusted enough.
ISOLATION_MODES: tuple[str, ...] = ("auto", "bwrap", "none")

# How every refusal ends: the way out, named for the command line and for the Python API.
OPT_OUT_HINT = (
    "or opt out explicitly with --isolation none (SandboxConfig(isolation='none')), "
    "which runs untrusted code without an OS boundary"
)


class SandboxUnavailable(UserError, RuntimeError):
    """No OS-level isolation could be set up (and isolation='none' was not requested).

    A UserError: the fix is the user's (install bubblewrap, or opt out explicitly), so every
    command reports it as one line without each having to translate it.
    """


@dataclass
class SandboxConfig:
    """How the executor runs untrusted code."""

    # Parallel workers; None -> usable CPU cores; at least 2 (one per hash seed). The workers of
    # one hash seed are lanes of a single jail (one interpreter start-up per seed).
    workers: int | None = None
    timeout_s: float = 10.0  # wall-clock limit per job (hard kill)
    memory_mb: int = 2048  # address-space limit per sandbox process
    max_output_chars: int = 100_000  # larger values are rejected as "too_large"
    isolation: str = "auto"  # one of ISOLATION_MODES (see there); never falls back to "none"
    batch_size: int = 64  # jobs per message to a worker
    flush_s: float = 0.005  # a worker sends the results it holds at least this often
    # Compiled programs an executor keeps for later jobs with the same program text (several
    # inputs of one program). 0 turns it off; the benchmark does, to report uncached figures.
    code_cache: int = 256
    hash_seeds: tuple[int, int] = (11, 22)  # PYTHONHASHSEED of the two determinism groups
    cpu_budget_s: int = 600  # RLIMIT_CPU of one executor process over its whole life
    recycle_rss_mb: int = 512  # an executor that grew past this is replaced
    recursion_limit: int = 1000
    start_timeout_s: float = 20.0
    # False turns off the static policy and the restricted builtins. Only for testing that the
    # OS boundary alone contains an attack; never for real use.
    policy: bool = True


@dataclass
class ExecRequest:
    """Run `program` in fresh globals, then evaluate `expr` in its namespace."""

    program: str
    expr: str
    check_determinism: bool = False  # run under two hash seeds in two interpreters
    timeout_s: float | None = None  # None -> SandboxConfig.timeout_s
    # The static policy's profile: "strict" for everything model-made (self-play validation and
    # grading); "benchmark" only for official benchmark harnesses (HumanEval's unit tests):
    # it also allows `random`, `hashlib`, a checked `eval` and dunder names in string
    # constants, still inside the jail, and each such job gets a fresh executor.
    policy_profile: str = "strict"

    def __post_init__(self) -> None:
        if self.policy_profile not in PROFILES:
            raise ValueError(
                f"policy_profile must be one of {PROFILES}, not {self.policy_profile!r}"
            )


@dataclass(slots=True)
class ExecResult:
    """Outcome of one request; `value_repr` is a canonical literal repr when status is "ok".

    With status "error": `error` is the text `Name: message` (for people), `exc_type` the
    exception class's true identity, determined inside the sandbox without running the class's
    code (`ValueError` for a builtin, `module.QualName` for a class verified to be that
    module's attribute, `LOCAL_CLASS` + Name for any other: one the program made), and `where`
    one of `PLACES`. Compare `exc_type`, never a name parsed out of `error`.
    """

    status: str
    value_repr: str | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    exc_type: str | None = None
    where: str | None = None

    @property
    def ok(self) -> bool:
        """True when the program ran and returned a literal value."""
        return self.status == "ok"
