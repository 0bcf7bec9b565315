"""Running one job inside a sandbox executor: the prepared state (module proxies, restricted
builtins), the cheap pre-check, the policy pass, execution and the canonical value.

Stdlib + sibling modules only: imported as a top-level module inside the jail.
"""

from __future__ import annotations

import ast
import binascii
import builtins
import importlib
import marshal
import opcode
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import _canon  # type: ignore[import-not-found]
import rules  # type: ignore[import-not-found]

# `opcode`, not `dis` (slower to import: sandbox start-up counts)
_B_STORE_ATTR, _B_DELETE_ATTR = (bytes([opcode.opmap[n]]) for n in ("STORE_ATTR", "DELETE_ATTR"))
_CO_OPTIMIZED = 0x1
_GEN_FLAGS = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coroutine, async gen
_IMMUTABLE = (int, float, complex, str, bytes, tuple, frozenset, range, type(None), re.Pattern)
# Imported by the supervisor besides the preloaded modules (common in programs); the other
# allowed modules are imported by an executor on first use, to keep start-up short.
_EAGER = ("typing", "collections.abc")


class _ReadOnlyModule(types.ModuleType):
    """A module proxy that programs can read but not change."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"module {self.__name__!r} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"module {self.__name__!r} is read-only")


class State:
    """Everything the supervisor prepares once and executors inherit by fork."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.max_chars = int(cfg["max_output_chars"])
        self.code_cache_size = int(cfg.get("code_cache", 0))
        self.code_cache: dict[str, types.CodeType] = {}
        self.proxies: dict[str, types.ModuleType] = {}
        self.mutable_attrs: set[str] = set()
        self.mutable_attrs_frozen: frozenset[str] = frozenset()
        self.suspicious: frozenset[str] = rules.SUSPICIOUS_NAMES
        for name in (*rules.PRELOADED_MODULES, *_EAGER):
            self.ensure(name)
        self.preloaded = frozenset(rules.PRELOADED_MODULES)
        safe: dict[str, object] = {
            k: v
            for k, v in vars(builtins).items()
            if not k.startswith("_") and k not in rules.FORBIDDEN_BUILTINS
        }
        safe["__build_class__"] = builtins.__build_class__
        safe["__import__"] = self._import
        safe["__name__"] = "builtins"
        self.enforce_policy = bool(cfg.get("policy", True))
        # Without the policy (only to test the OS boundary) programs get the real builtins.
        self.builtins: dict[str, object] = safe if self.enforce_policy else dict(vars(builtins))
        self.globals: dict[str, object] = {"__name__": "__main__", "__doc__": None}
        for name in rules.PRELOADED_MODULES:
            self.globals[name] = self.proxies[name]

    def ensure(self, name: str, benchmark: bool = False) -> types.ModuleType | None:
        """The read-only proxy of allowed module `name`, importing it on first use.

        Trusted code: runs before the job that needs it (from the policy check), or inside
        an import statement of a job already checked. `benchmark` also allows the benchmark
        profile's extra modules (a job of that profile is always dirty: its executor, with the
        proxies it imported, is thrown away afterwards).
        """
        if name not in rules.ALLOWED_MODULES and not (
            benchmark and name in rules.BENCHMARK_MODULES
        ):
            return None
        proxy = self.proxies.get(name)
        if proxy is not None:
            return proxy
        parent, _, last = name.rpartition(".")
        parent_proxy = self.ensure(parent) if parent else None
        proxy = self._proxy(importlib.import_module(name))
        if parent_proxy is not None:
            parent_proxy.__dict__[last] = proxy  # `collections.abc` after `collections`
        self.mutable_attrs_frozen = frozenset(self.mutable_attrs)
        self.suspicious = rules.SUSPICIOUS_NAMES | self.mutable_attrs_frozen
        return proxy

    def _proxy(self, real: types.ModuleType) -> types.ModuleType:
        proxy = _ReadOnlyModule(real.__name__)
        self.proxies[real.__name__] = proxy
        attrs: dict[str, object] = {}
        for attr in dir(real):
            if attr.startswith("_"):
                continue
            value = getattr(real, attr)
            if isinstance(value, types.ModuleType):
                if value.__name__ in rules.ALLOWED_MODULES:
                    attrs[attr] = self.proxies.get(value.__name__) or self._proxy(value)
                continue
            if isinstance(value, type):
                self._scan_class(value)
            elif not (callable(value) or isinstance(value, _IMMUTABLE)):
                self.mutable_attrs.add(attr)  # e.g. copy.dispatch_table: left out
                continue
            attrs[attr] = value
        proxy.__dict__.update(attrs)
        return proxy

    def _scan_class(self, cls: type) -> None:
        for attr, value in vars(cls).items():
            if attr.startswith("_") or callable(value) or isinstance(value, _IMMUTABLE):
                continue
            if hasattr(type(value), "__get__"):  # properties, slots and other descriptors
                continue
            self.mutable_attrs.add(attr)  # e.g. TextWrapper.unicode_whitespace_trans

    def _import(
        self,
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: object = (),
        level: int = 0,
        benchmark: bool = False,
    ) -> types.ModuleType:
        proxy = self.ensure(name, benchmark) if level == 0 else None
        if proxy is None:
            raise ImportError(f"import of module {name!r} is not allowed")
        if fromlist:
            return proxy
        return self.proxies[name.partition(".")[0]]

    def import_benchmark(
        self,
        name: str,
        globals: object = None,
        locals: object = None,
        fromlist: object = (),
        level: int = 0,
    ) -> types.ModuleType:
        """`__import__` of a benchmark-profile job: the extra modules are allowed too."""
        return self._import(name, globals, locals, fromlist, level, True)


class PolicyError(Exception):
    """A string given to a benchmark job's `eval` broke the policy."""


def _checked_eval(st: State, job_builtins: dict[str, object]) -> Callable[..., object]:
    """The `eval` builtin of a benchmark-profile job.

    It holds the string to the same policy as the program, and never lets Python fill in the
    real builtins: a globals dict without `__builtins__` gets the job's restricted ones.
    """

    def eval_(source: object, globals: object = None, locals: object = None, /) -> object:
        if isinstance(source, (bytes, bytearray)):
            source = bytes(source).decode()
        if not isinstance(source, str):
            raise TypeError("eval() arg 1 must be a string")  # no code objects
        if globals is None:
            frame = sys._getframe(1)
            globals = frame.f_globals
            if locals is None:
                locals = frame.f_locals
            del frame
        elif locals is None:
            locals = globals
        if type(globals) is not dict:
            raise TypeError("globals must be a dict")
        if "__builtins__" not in globals:
            globals["__builtins__"] = job_builtins
        bound = set(globals)
        if isinstance(locals, dict):
            bound |= set(locals)
        tree = ast.parse(source.lstrip(" \t"), mode="eval")
        found = rules.analyze(tree, bound, st.mutable_attrs_frozen, rules.BENCHMARK)
        if found.violations:
            raise PolicyError("eval: " + "; ".join(found.violations))
        code = compile(tree, "<eval>", "eval", dont_inherit=True)
        return eval(code, globals, locals)  # type: ignore[arg-type]

    eval_.__name__ = eval_.__qualname__ = "eval"
    return eval_


class _Scan:
    """Names, flags and class bodies of a code object tree: a cheap pre-check that decides
    whether the full AST pass is needed. Imports are found in the source text (the keyword
    cannot hide), attribute stores only when the job uses modules (`attr_stores`)."""

    __slots__ = ("names", "flags", "classes", "odd", "codes")

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.flags = 0
        self.classes = self.odd = False
        self.codes: list[types.CodeType] = []

    def add(self, code: types.CodeType) -> None:
        """Fold in `code` and the code objects nested in it."""
        self.codes.append(code)
        self.names.update(code.co_names)
        self.flags |= code.co_flags
        for const in code.co_consts:
            kind = type(const)
            if kind is types.CodeType:
                if not const.co_flags & _CO_OPTIMIZED:
                    self.classes = True  # only class bodies run unoptimized inside a module
                self.add(const)
            elif kind is str:
                self.odd = self.odd or "__" in const or ("{" in const and "_" in const)
            elif kind is tuple or kind is frozenset:
                self.odd = self.odd or any(type(c) is str and "_" in c for c in const)

    def attr_stores(self) -> bool:
        """Whether any STORE_ATTR / DELETE_ATTR instruction occurs."""
        for code in self.codes:
            ops = code.co_code[::2]  # opcodes; membership of one byte is a fast memchr
            if _B_STORE_ATTR in ops or _B_DELETE_ATTR in ops:
                return True
        return False


# The builtin exception classes by identity (`id` of a class that lives as long as the
# interpreter): a program's own class cannot pass for one, whatever it calls itself.
_BUILTIN_EXCEPTIONS = {
    id(v): type.__dict__["__name__"].__get__(v)
    for v in vars(builtins).values()
    if isinstance(v, type) and issubclass(v, BaseException)
}
_TYPE_NAME = type.__dict__["__name__"]
_TYPE_MODULE = type.__dict__["__module__"]
_TYPE_QUALNAME = type.__dict__["__qualname__"]
# prefix of a class that is neither builtin nor a verified module attribute (api.LOCAL_CLASS)
LOCAL = "<program>."
_CALLS = frozenset(
    opcode.opmap[n] for n in ("CALL", "CALL_KW", "CALL_FUNCTION_EX") if n in opcode.opmap
)
_RETURN = opcode.opmap["RETURN_VALUE"]
_CACHE = opcode.opmap.get("CACHE", -1)


def exception_type(cls: type) -> str:
    """The true identity of an exception class, read without running any of its code:
    `ValueError` for a builtin (by identity), `module.QualName` for a class that IS that
    attribute of an imported module (checked by identity, so a forged `__module__` or
    `__qualname__` does not pass), else `<program>.` + its type-level `__name__` (a class the
    program made: a metaclass property or a `str` subclass cannot fake these names)."""
    name = _BUILTIN_EXCEPTIONS.get(id(cls))
    if name is not None:
        return name
    try:
        module, qualname = _TYPE_MODULE.__get__(cls), _TYPE_QUALNAME.__get__(cls)
        if type(module) is str and type(qualname) is str:
            found: object = sys.modules.get(module)
            for part in qualname.split("."):
                found = found.__dict__.get(part) if hasattr(found, "__dict__") else None
            if found is cls:
                return f"{module}.{qualname}"
    except Exception:
        pass
    return LOCAL + str.__str__(_TYPE_NAME.__get__(cls))


def _outermost_call(ecode: types.CodeType) -> range:
    """Byte offsets of the expression's outermost call: the last instruction before the
    return, with its inline caches (an interpreter may report any of them as the frame's last
    instruction while the call runs); empty when that instruction is not a call."""
    raw = ecode.co_code
    end = raw.rfind(bytes([_RETURN]))
    while end > 0 and end % 2:
        end = raw.rfind(bytes([_RETURN]), 0, end)
    at = end - 2
    while at >= 0 and raw[at] == _CACHE:
        at -= 2
    return range(at, end) if at >= 0 and raw[at] in _CALLS else range(0)


def raised_where(exc: BaseException, ecode: types.CodeType) -> str:
    """Where an exception that escaped the expression was raised: "f" when the expression's
    outermost call (the call of `f`) was running and the traceback goes into the called code;
    "call" when the call itself failed (wrong arguments, `f` not a Python function);
    "input" when evaluating the arguments (or anything before the call) raised."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code is not ecode:
        tb = tb.tb_next
    if tb is None or tb.tb_lasti not in _outermost_call(ecode):
        return "input"
    return "f" if tb.tb_next is not None else "call"


def _error_text(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:  # a program's own exception with a broken __str__
        text = ""
    text = text[:500]
    return f"{name}: {text}" if text else name


def _compile(st: State, program: str, expr: str) -> tuple[types.CodeType, types.CodeType] | str:
    """Code objects of a job, or the syntax error.

    Code objects are immutable, so an executor may reuse the program's code for later jobs with
    the same program text (several inputs of one program, several answers to one task);
    `code_cache` in the config sets how many it keeps (0: none, as in the benchmark).
    """
    code = st.code_cache.get(program) if st.code_cache_size else None
    if code is None:
        try:
            code = compile(program, "<program>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
            return _error_text(exc)
        if st.code_cache_size and len(program) < 20_000:
            if len(st.code_cache) >= st.code_cache_size:
                st.code_cache.pop(next(iter(st.code_cache)))  # oldest first
            st.code_cache[program] = code
    try:
        ecode = compile(expr, "<input>", "eval", dont_inherit=True)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        return "input: " + _error_text(exc)
    return code, ecode


def _load(blob: str) -> tuple[types.CodeType, types.CodeType, bool, bool] | None:
    """Code compiled and checked by the other hash seed's sandbox, with its two flags."""
    try:
        code, ecode, dirty, needs_gc = marshal.loads(binascii.a2b_base64(blob))
    except Exception:
        return None
    if type(code) is types.CodeType and type(ecode) is types.CodeType:
        return code, ecode, bool(dirty), bool(needs_gc)
    return None


def _check(
    st: State, program: str, expr: str, scan: _Scan, imports: bool, benchmark: bool = False
) -> tuple[bool, str | None]:
    """(dirty, policy violations or None); the full AST pass only when the scan asks for it."""
    uses_modules = imports or not scan.names.isdisjoint(st.preloaded)
    dirty = scan.classes or (uses_modules and scan.attr_stores())
    if not st.enforce_policy or not (
        scan.odd
        or imports
        or not scan.names.isdisjoint(st.suspicious)
        or any(n[:1] == "_" for n in scan.names)
    ):
        return dirty, None
    try:
        tree = ast.parse(program, mode="exec")
        etree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return dirty, _error_text(exc)
    if imports:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    st.ensure(alias.name, benchmark)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                st.ensure(node.module, benchmark)
    profile = rules.BENCHMARK if benchmark else rules.STRICT
    found = rules.analyze(tree, (), st.mutable_attrs_frozen, profile)
    found_e = rules.analyze(etree, rules._bound_names(tree), st.mutable_attrs_frozen, profile)
    violations = found.violations + [v for v in found_e.violations if v not in found.violations]
    return dirty or found.dirty or found_e.dirty, "; ".join(violations) or None


def run_job(
    st: State,
    program: str,
    expr: str,
    blob: str | None = None,
    export: bool = False,
    profile: str = "strict",
) -> tuple[str, str | None, str | None, bool, bool, str | None, str | None, str | None]:
    """Run one job; returns (status, value_repr, error, dirty, needs_gc, exported code,
    exception type, where it was raised): the last two only with status "error", see
    `exception_type` and `raised_where` ("program" for the program's top level, "output"
    while rendering the returned value).

    With `blob`, run the code the other sandbox compiled and checked (the source is not sent
    again); with `export`, return this job's compiled code for the other sandbox. `profile`
    is the policy profile ("strict" unless exactly "benchmark"); a benchmark job is always
    dirty, even when refused (its check may have imported an extra module).
    """
    benchmark = profile == rules.BENCHMARK
    exported = None
    if blob is not None:
        loaded = _load(blob)
        if loaded is None:
            return (
                "crashed",
                None,
                "could not load the peer's compiled code",
                benchmark,
                False,
                None,
                None,
                None,
            )
        code, ecode, dirty, needs_gc = loaded
    else:
        compiled = _compile(st, program, expr)
        if isinstance(compiled, str):
            return "syntax_error", None, compiled, benchmark, False, None, None, None
        code, ecode = compiled
        scan = _Scan()
        scan.add(code)
        scan.add(ecode)
        # an import statement needs the keyword in the text (`__import__` is banned anyway)
        imports = "import" in program or "import" in expr
        dirty, violations = _check(st, program, expr, scan, imports, benchmark)
        if violations is not None:
            kind = "syntax_error" if violations.startswith("SyntaxError") else "policy"
            return kind, None, violations, benchmark, False, None, None, None
        needs_gc = bool(scan.flags & _GEN_FLAGS)
        if export:
            packed = marshal.dumps((code, ecode, dirty, needs_gc))
            exported = binascii.b2a_base64(packed, newline=False).decode()
    dirty = dirty or benchmark
    g = dict(st.globals)
    job_builtins = dict(st.builtins)
    if benchmark and st.enforce_policy:
        job_builtins["__import__"] = st.import_benchmark
        job_builtins["eval"] = _checked_eval(st, job_builtins)
    g["__builtins__"] = job_builtins
    status, value, error, exc_type, where = "ok", None, None, None, None
    stage = "program"
    try:
        exec(code, g)
        stage = "expr"
        result = eval(ecode, g)
        stage = "output"
        value = _canon.canonical_repr(result, st.max_chars)
        del result
    except _canon.NotLiteral as exc:
        status, error = "not_literal", str(exc)
    except _canon.TooLarge as exc:
        status, error = "too_large", str(exc)
    except MemoryError:
        status, error, dirty = "memory", "MemoryError", True
    except PolicyError as exc:
        status, error = "policy", str(exc)
    except BaseException as exc:  # the program's own exceptions, SystemExit included
        status, error = "error", _error_text(exc)
        exc_type = exception_type(type(exc))
        where = raised_where(exc, ecode) if stage == "expr" else stage
    try:  # noqa: SIM105 (contextlib is slow to import; start-up counts)
        g.clear()  # finalizers of this job's objects run now, on its own clock
    except BaseException:
        pass
    return status, value, error, dirty, needs_gc, exported, exc_type, where
