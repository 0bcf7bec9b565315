"""The task-type registry: every list of task types in azr is derived from it or from a
run's config.

A task type is one `TaskSpec` (see `base.py`) registered here. The shipped types are
`deduction`, `abduction` and `induction` (one module each; the two triplet types share
`triplet.py`). Adding a type means writing one module with a `TaskSpec` subclass and calling
`register(MySpec())` when it is imported (see `tests/test_task_registry.py` for a fourth type).
Registered is not enabled: a run trains the types its config lists (`selfplay.task_types`),
by default those whose spec sets `default_enabled`; the docs show every registered type.
"""

from __future__ import annotations

from azr.tasks.types.base import DocExample, Plan, ProposalSettings, TaskSpec

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
    spec = _REGISTRY.get(str(name))
    if spec is None:
        raise ValueError(f"unknown task type {name!r}; registered: {', '.join(names())}")
    return spec


def names() -> tuple[str, ...]:
    """Registered task types, in registration order."""
    return tuple(_REGISTRY)


def specs() -> tuple[TaskSpec, ...]:
    """Registered specs, in registration order."""
    return tuple(_REGISTRY.values())


def default_enabled() -> tuple[str, ...]:
    """The types a run trains when its config does not say (`TaskSpec.default_enabled`)."""
    return tuple(s.name for s in _REGISTRY.values() if s.default_enabled)


def _register_shipped() -> None:
    from azr.tasks.types.abduction import Abduction
    from azr.tasks.types.deduction import Deduction
    from azr.tasks.types.induction import Induction

    for spec in (Deduction(), Abduction(), Induction()):
        register(spec)


_register_shipped()

__all__ = [
    "DocExample",
    "Plan",
    "ProposalSettings",
    "TaskSpec",
    "default_enabled",
    "get",
    "names",
    "register",
    "specs",
]
