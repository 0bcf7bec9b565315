"""Static safety policy for untrusted programs and inputs (defence in depth, not the boundary).

This module is stdlib-only on purpose: the sandbox worker imports it as a top-level module
inside the jail, and the trusted parent imports it as ``azr.sandbox.rules``. The rules:

- imports only from an allowlist of pure standard-library modules; the reference's forbidden
  list (``FORBIDDEN_MODULES``) gets its own message so prompts can quote it;
- no reference to dangerous builtins (``open``, ``eval``, ``id`` ...) unless the name is bound by
  the program itself (a parameter called ``input`` is fine);
- no dunder names or attributes outside a short harmless list (escapes walk through
  ``__class__.__base__.__subclasses__()``, ``__globals__``, ``__builtins__`` ...), no frame or
  code attributes, no dynamic attribute access by computed strings;
- format strings may not reach private attributes (``'{0.__init__.__globals__}'``).

Policy profiles: ``"strict"`` (the default; self-play validation and grading) applies every
rule above. ``"benchmark"`` (official benchmark harnesses only, e.g. HumanEval's unit tests)
additionally permits importing ``BENCHMARK_MODULES``, the ``eval`` builtin (the worker supplies
one that runs the same policy on its string before evaluating it with the job's restricted
builtins) and dunder names inside plain string constants (test data such as
``'__YESIMHERE.NuLl__'``). A benchmark job is always dirty, so its executor is thrown away.

``analyze`` also decides whether a job is *dirty*: whether it could change state shared by
later jobs in the same worker (class definitions, attribute stores or mutating names on
modules). Dirty jobs run in a worker that is thrown away afterwards.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

# The reference's list plus the modules that reach the OS or the interpreter internals.
FORBIDDEN_MODULES: tuple[str, ...] = (
    "logging", "random", "multiprocessing", "pebble", "subprocess", "threading", "datetime",
    "time", "hashlib", "hmac", "bcrypt", "calendar", "os", "sys", "shutil", "socket", "ctypes",
    "signal", "importlib", "builtins", "io", "pathlib", "gc", "inspect", "pickle", "marshal",
    "_thread", "asyncio", "concurrent", "tempfile", "glob", "secrets", "uuid", "posix", "resource",
    "types", "code", "codeop", "runpy", "pty", "mmap", "select", "selectors", "weakref",
    "atexit", "faulthandler", "tracemalloc", "traceback", "sysconfig", "platform", "site",
)  # fmt: skip

# Pure standard-library modules a program may import. Everything else is refused.
ALLOWED_MODULES: frozenset[str] = frozenset(
    [
        "__future__",
        "abc",
        "array",
        "bisect",
        "cmath",
        "collections",
        "collections.abc",
        "copy",
        "dataclasses",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "graphlib",
        "heapq",
        "itertools",
        "json",
        "keyword",
        "math",
        "numbers",
        "operator",
        "re",
        "statistics",
        "string",
        "textwrap",
        "typing",
        "unicodedata",
    ]
)
# Allowed, but importing them makes the job dirty (process-global state: decimal contexts,
# ABC registries).
IMPURE_MODULES: frozenset[str] = frozenset({"abc", "decimal", "numbers", "collections.abc"})
# Modules every program sees as globals without importing them (the reference prepends such
# imports; CRUXEval programs use `string` and `re` without an import statement).
PRELOADED_MODULES: tuple[str, ...] = (
    "math", "re", "string", "collections", "itertools", "functools", "heapq", "bisect", "copy",
    "operator",
)  # fmt: skip

# Policy profiles (see the module docstring); anything else is treated as "strict".
STRICT, BENCHMARK = "strict", "benchmark"
PROFILES: tuple[str, ...] = (STRICT, BENCHMARK)
# Extra modules the benchmark profile may import: what official test harnesses need
# (HumanEval's tests use `random` and `hashlib`). Both keep process-global state (the random
# generator), which is why every benchmark job runs in an executor thrown away afterwards.
BENCHMARK_MODULES: frozenset[str] = frozenset({"random", "hashlib"})
# Builtins the benchmark profile may name (HumanEval/160's canonical solution uses `eval`).
BENCHMARK_BUILTINS: frozenset[str] = frozenset({"eval"})

FORBIDDEN_BUILTINS: frozenset[str] = frozenset(
    [
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "input",
        "globals",
        "locals",
        "vars",
        "breakpoint",
        "id",
        "help",
        "exit",
        "quit",
        "memoryview",
        "copyright",
        "credits",
        "license",
        "__build_class__",
        "__loader__",
        "__spec__",
        "__builtins__",
        "setattr",
        "delattr",
    ]
)
# Harmless dunders a program may name (as attribute or as a global).
SAFE_DUNDERS: frozenset[str] = frozenset(
    [
        "__name__",
        "__qualname__",
        "__doc__",
        "__class__",
        "__init__",
        "__new__",
        "__repr__",
        "__str__",
        "__len__",
        "__iter__",
        "__next__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__missing__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__hash__",
        "__bool__",
        "__add__",
        "__sub__",
        "__mul__",
        "__truediv__",
        "__floordiv__",
        "__mod__",
        "__pow__",
        "__neg__",
        "__pos__",
        "__abs__",
        "__and__",
        "__or__",
        "__xor__",
        "__invert__",
        "__lshift__",
        "__rshift__",
        "__radd__",
        "__rsub__",
        "__rmul__",
        "__iadd__",
        "__isub__",
        "__imul__",
        "__call__",
        "__enter__",
        "__exit__",
        "__format__",
        "__debug__",
        "__future__",
        "__slots__",
        "__annotations__",
        "__match_args__",
        "__reversed__",
        "__index__",
        "__int__",
        "__float__",
        "__round__",
        "__post_init__",
        "__main__",
    ]
)
# Attributes that expose frames, code objects or an attribute lookup by computed string.
BANNED_ATTRS: frozenset[str] = frozenset(
    [
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "cr_origin",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "f_trace",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "co_names",
        "get_field",
        # library helpers that eval() strings (annotations) in the caller's namespace
        "get_type_hints",
        "ForwardRef",
        "_evaluate",
        "_eval_type",
        "evaluate_forward_ref",
        "get_annotations",
        "singledispatch",
        "singledispatchmethod",
    ]
)
# Calls whose string arguments name attributes; they must be constants that pass the rules.
ATTRIBUTE_BY_NAME: frozenset[str] = frozenset(
    {"getattr", "hasattr", "setattr", "delattr", "attrgetter", "methodcaller"}
)
# Names that mutate process-global registries when called on shared objects.
MUTATING_NAMES: frozenset[str] = frozenset({"register", "setattr", "delattr"})

_FORMAT_PRIVATE = re.compile(r"\{[^{}]*[.\[]\s*_")
_DUNDER_TOKEN = re.compile(r"__[A-Za-z][A-Za-z0-9_]*?__")


def _is_dunder(name: str) -> bool:
    return (
        len(name) > 4
        and name.startswith("__")
        and name.endswith("__")
        and name[2] != "_"
        and name[-3] != "_"
    )


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the program binds anywhere (parameters, assignments, imports, defs...)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif (
            isinstance(node, ast.ExceptHandler)
            and node.name
            or isinstance(node, (ast.MatchAs, ast.MatchStar))
            and node.name
        ):
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return bound


def _attr_violation(name: str) -> str | None:
    if _is_dunder(name) and name not in SAFE_DUNDERS:
        return f"access to attribute '{name}' is not allowed"
    if name in BANNED_ATTRS:
        return f"access to attribute '{name}' is not allowed"
    return None


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


class Analysis:
    """Result of a full policy pass: violations (empty = allowed) and whether the job is dirty."""

    __slots__ = ("violations", "dirty")

    def __init__(self, violations: list[str], dirty: bool) -> None:
        self.violations = violations
        self.dirty = dirty


def analyze(
    tree: ast.AST,
    bound: Iterable[str] = (),
    mutable_attrs: frozenset[str] = frozenset(),
    profile: str = STRICT,
) -> Analysis:
    """Check a parsed program or expression; `bound` are names bound elsewhere (the program)."""
    violations: list[str] = []
    names_bound = _bound_names(tree) | set(bound)
    benchmark = profile == BENCHMARK
    extra_modules = BENCHMARK_MODULES if benchmark else frozenset()
    if benchmark:
        names_bound |= BENCHMARK_BUILTINS
    uses_modules = False
    stores_attrs = False
    mutating = False
    dirty = False

    def add(msg: str) -> None:
        if msg not in violations:
            violations.append(msg)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            uses_modules = True
            for alias in node.names:
                _check_module(alias.name, add, extra_modules)
                dirty |= alias.name in IMPURE_MODULES
        elif isinstance(node, ast.ImportFrom):
            uses_modules = True
            if node.level:
                add("relative imports are not allowed")
                continue
            module = node.module or ""
            _check_module(module, add, extra_modules)
            dirty |= module in IMPURE_MODULES
            for alias in node.names:
                if alias.name == "*":
                    continue
                full = f"{module}.{alias.name}"
                if full in ALLOWED_MODULES:
                    dirty |= full in IMPURE_MODULES
                elif (msg := _attr_violation(alias.name)) is not None:
                    add(msg)
                elif alias.name.startswith("_") or alias.name in mutable_attrs:
                    mutating = True
        elif isinstance(node, ast.Name):
            name = node.id
            if isinstance(node.ctx, ast.Load):
                if name in PRELOADED_MODULES and name not in names_bound:
                    uses_modules = True
                if name in FORBIDDEN_BUILTINS and name not in names_bound:
                    add(f"use of builtin '{name}' is not allowed")
                    continue
            if _is_dunder(name) and name not in SAFE_DUNDERS:
                add(f"use of name '{name}' is not allowed")
        elif isinstance(node, ast.Attribute):
            if (msg := _attr_violation(node.attr)) is not None:
                add(msg)
            if not isinstance(node.ctx, ast.Load):
                stores_attrs = True
            if node.attr.startswith("_") or node.attr in mutable_attrs:
                mutating = True
            if node.attr in MUTATING_NAMES:
                mutating = True
        elif isinstance(node, ast.Call):
            called = _call_name(node.func)
            if called in ATTRIBUTE_BY_NAME:
                if called in ("setattr", "delattr"):
                    mutating = True
                _check_attribute_arguments(called, node, add)
        elif isinstance(node, ast.ClassDef):
            dirty = True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if "{" in text and _FORMAT_PRIVATE.search(text):
                add("format strings may not access private attributes")
            elif "__" in text and not benchmark:
                # e.g. type('X', (), {'__del__': ...}), names for getattr-like helpers, or code
                # in a string that some library might evaluate
                for token in _DUNDER_TOKEN.findall(text):
                    if token not in SAFE_DUNDERS:
                        add(f"the string {text[:40]!r} names the private attribute '{token}'")
                        break
    if benchmark or (uses_modules and (stores_attrs or mutating)):
        dirty = True
    return Analysis(violations, dirty)


def _check_module(
    name: str, add: Callable[[str], None], extra: frozenset[str] = frozenset()
) -> None:
    top = name.split(".")[0]
    if name in extra:
        return
    if name in FORBIDDEN_MODULES or top in FORBIDDEN_MODULES:
        add(f"import of forbidden module '{name}'")
    elif name not in ALLOWED_MODULES:
        add(f"import of module '{name}' is not allowed")


def _check_attribute_arguments(called: str, node: ast.Call, add: Callable[[str], None]) -> None:
    # getattr(x, 'name'): the name must be a constant that passes the attribute rules;
    # attrgetter('a.b') / methodcaller('m') likewise for every dotted part.
    args = node.args[1:2] if called in ("getattr", "hasattr", "setattr", "delattr") else node.args
    if called == "methodcaller":
        args = node.args[:1]
    if called in ("getattr", "hasattr", "setattr", "delattr") and len(node.args) < 2:
        args = []
    for arg in args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            add(f"'{called}' needs a constant attribute name")
            continue
        for part in arg.value.split("."):
            if part.startswith("_") or part in BANNED_ATTRS:
                add(f"'{called}' of attribute '{part}' is not allowed")


def check_program(src: str, profile: str = STRICT) -> list[str]:
    """Policy violations of a program (module source); an empty list means allowed."""
    try:
        tree = ast.parse(src, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [f"syntax error: {exc}"]
    return analyze(tree, profile=profile).violations


def check_expression(src: str, bound: Iterable[str] = (), profile: str = STRICT) -> list[str]:
    """Policy violations of an expression evaluated in a program's namespace (`bound` names)."""
    try:
        tree = ast.parse(src.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [f"syntax error: {exc}"]
    return analyze(tree, bound, profile=profile).violations


# Names whose presence in compiled code sends a job from the fast check to `analyze`.
SUSPICIOUS_NAMES: frozenset[str] = (
    FORBIDDEN_BUILTINS | BANNED_ATTRS | ATTRIBUTE_BY_NAME | MUTATING_NAMES
)
