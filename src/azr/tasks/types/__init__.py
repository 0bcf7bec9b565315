"""The task-type registry: every list of task types in azr is derived from it or from a
run's config.

A task type is one `TaskSpec` (see `base.py`) registered here. The shipped types are
`deduction`, `abduction` and `induction` (one module each; the two triplet types share
`triplet.py`), listed in `SHIPPED`. Adding a type means writing one module with a `TaskSpec`
subclass, then one of:
- a line in `SHIPPED` (a type shipped with azr);
- an entry point in the group `azr.task_types` of any installed package (a plugin):
  `[project.entry-points."azr.task_types"] mytype = "mypkg.mytype:MySpec"`, the object being a
  `TaskSpec` subclass or instance (or a module that registers its types when imported);
- the module's name in the config (`selfplay.task_type_modules`), which imports it: it calls
  `register(MySpec())` at import;
- `register(MySpec())` from code (see `tests/test_task_registry.py` for a fourth type).
Registered is not enabled: a run trains the types its config lists (`selfplay.task_types`),
by default those whose spec sets `default_enabled`; the docs show every registered type.
"""

from __future__ import annotations

import importlib
import types as _modules
import warnings
from importlib.metadata import entry_points

from azr.tasks.types.base import DocExample, Plan, ProposalSettings, TaskSpec

ENTRY_POINT_GROUP = "azr.task_types"
# The task types shipped with azr, loaded as plugins' entry points are ("module:SpecClass").
SHIPPED = (
    "azr.tasks.types.deduction:Deduction",
    "azr.tasks.types.abduction:Abduction",
    "azr.tasks.types.induction:Induction",
    "azr.tasks.types.error:ErrorPrediction",
)

_REGISTRY: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add `spec` to the registry (its `name` must be new); returns it."""
    for what in ("name", "short"):
        value = getattr(spec, what, None)
        if not isinstance(value, str) or not value.isidentifier():
            raise ValueError(f"a task type's {what} must be a Python identifier, not {value!r}")
    if spec.name in _REGISTRY:
        raise ValueError(f"task type {spec.name!r} is already registered")
    if any(s.short == spec.short for s in _REGISTRY.values()):
        raise ValueError(f"task type short name {spec.short!r} is already taken")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a task type (for tests that register a temporary one)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> TaskSpec:
    """The spec of task type `name`; ValueError naming the registered types otherwise."""
    _load_plugins()
    spec = _REGISTRY.get(str(name))
    if spec is None:
        raise ValueError(f"unknown task type {name!r}; registered: {', '.join(names())}{_failed()}")
    return spec


def names() -> tuple[str, ...]:
    """Registered task types, in registration order (shipped, then plugins)."""
    _load_plugins()
    return tuple(_REGISTRY)


def specs() -> tuple[TaskSpec, ...]:
    """Registered specs, in registration order."""
    _load_plugins()
    return tuple(_REGISTRY.values())


def default_enabled() -> tuple[str, ...]:
    """The types a run trains when its config does not say (`TaskSpec.default_enabled`)."""
    return tuple(s.name for s in specs() if s.default_enabled)


def load(target: str) -> None:
    """Register what `target` names: "module:attr" (a `TaskSpec` subclass or instance) or
    "module" (imported: it registers its types itself). A spec class already registered
    under its name is left as it is."""
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    _register_object(obj, target)


def _register_object(obj: object, where: str) -> None:
    if isinstance(obj, _modules.ModuleType):
        return  # importing it registered its types
    spec = obj() if isinstance(obj, type) and issubclass(obj, TaskSpec) else obj
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"{where} is not a TaskSpec subclass or instance, nor a module")
    known = _REGISTRY.get(getattr(spec, "name", None) or "")
    if known is None or type(known) is not type(spec):
        register(spec)


_PLUGINS = {"loaded": False}
PLUGIN_ERRORS: dict[str, str] = {}  # entry point -> why it did not load


def _load_plugins(force: bool = False) -> None:
    """Register the task types of every installed package's `azr.task_types` entry points,
    once (again with `force`, e.g. after a test installs one). A plugin that fails to load
    is skipped with a warning; the error naming an unknown type says why."""
    if _PLUGINS["loaded"] and not force:
        return
    _PLUGINS["loaded"] = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            _register_object(ep.load(), f"entry point {ep.name} = {ep.value}")
        except Exception as exc:
            PLUGIN_ERRORS[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
            warnings.warn(
                f"azr task-type plugin {ep.name} ({ep.value}) did not load: {exc}", stacklevel=2
            )
        else:
            PLUGIN_ERRORS.pop(ep.name, None)


def load_plugins() -> None:
    """Load (again) the task types of the `azr.task_types` entry points installed now."""
    _load_plugins(force=True)


def _failed() -> str:
    if not PLUGIN_ERRORS:
        return ""
    return (
        " (task-type plugins that did not load: "
        + "; ".join(f"{name}: {why}" for name, why in PLUGIN_ERRORS.items())
        + ")"
    )


for _target in SHIPPED:
    load(_target)

__all__ = [
    "DocExample",
    "Plan",
    "ProposalSettings",
    "TaskSpec",
    "default_enabled",
    "get",
    "load",
    "load_plugins",
    "names",
    "register",
    "specs",
]
