"""The task data model: task-type names, roles, the `Task` protocol, and the task classes of
the shipped types, triplets and induction tasks (JSON round trip).

A task is whatever its type's spec (`azr.tasks.types`) defines: any class with a `program`
and a JSON form satisfies `Task`; the spec parses it back (`from_dict`), keys it for dedup
and renders its prompts. There is no closed union of task classes to extend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable


@runtime_checkable
class Task(Protocol):
    """What the loop, the buffers and the prompts need of a task of any type: the program it
    is about (a proposer prompt may show it; induction proposes inputs for it) and its JSON
    form (`to_dict`, stored in the buffers and logged; the type's spec reads it back and
    computes its dedup key from it)."""

    @property
    def program(self) -> str:
        """The task's program (entry function `f`)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The task's JSON form."""
        ...


class TaskType(str):
    """The name of a registered task type (see `azr.tasks.types`): a `str` with a check.

    `TaskType("deduction")` is the interned instance (so `is` comparisons work) and raises
    ValueError for a name no task-type spec registered. The three shipped types have
    constants; a new type needs none (it only registers its spec). A name is any Python
    identifier.
    """

    _interned: ClassVar[dict[str, TaskType]] = {}
    DEDUCTION: ClassVar[TaskType]  # given program + input, predict the output
    ABDUCTION: ClassVar[TaskType]  # given program + output, find an input
    INDUCTION: ClassVar[TaskType]  # given examples + a message, write the program

    def __new__(cls, value: object) -> TaskType:
        name = str(value)
        found = cls._interned.get(name)
        if found is not None:
            return found
        from azr.tasks.types import names

        if name not in names():
            raise ValueError(f"unknown task type {value!r}; registered: {', '.join(names())}")
        return cls._intern(name)

    @classmethod
    def _intern(cls, name: str) -> TaskType:
        obj = cls._interned.get(name)
        if obj is None:
            obj = str.__new__(cls, name)
            cls._interned[name] = obj
        return obj

    @property
    def value(self) -> str:
        """The plain name (as for an Enum member)."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"TaskType({self.value!r})"


TaskType.DEDUCTION = TaskType._intern("deduction")
TaskType.ABDUCTION = TaskType._intern("abduction")
TaskType.INDUCTION = TaskType._intern("induction")


class Role(str, Enum):
    """Which side of self-play a response plays."""

    PROPOSER = "proposer"
    SOLVER = "solver"

    def __str__(self) -> str:
        return self.value


def _require_str(data: dict[str, Any], key: str, kind: str) -> str:
    if key not in data:
        raise ValueError(f"{kind}: missing field '{key}'")
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{kind}: field '{key}' must be a string, got {type(value).__name__}")
    return value


def _pairs(data: dict[str, Any], key: str) -> list[tuple[str, str]]:
    if key not in data:
        raise ValueError(f"induction task: missing field '{key}'")
    raw = data[key]
    if not isinstance(raw, list):
        raise ValueError(f"induction task: field '{key}' must be a list of [input, output] pairs")
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not all(isinstance(x, str) for x in item)
        ):
            raise ValueError(
                f"induction task: every entry of '{key}' must be an [input, output] pair of strings"
            )
        pairs.append((item[0], item[1]))
    return pairs


@dataclass(frozen=True)
class Triplet:
    """A program with entry `f`, an input (argument-list text) and its output (canonical repr)."""

    program: str
    input: str
    output: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able dict."""
        return {"program": self.program, "input": self.input, "output": self.output}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Triplet:
        """Inverse of `to_dict`; accepts `code` as an alias of `program` (CRUXEval)."""
        if "program" not in data and "code" in data:
            data = {**data, "program": data["code"]}
        return cls(
            program=_require_str(data, "program", "triplet"),
            input=_require_str(data, "input", "triplet"),
            output=_require_str(data, "output", "triplet"),
        )


@dataclass(frozen=True)
class InductionTask:
    """A program, a hint message, visible (input, output) examples and hidden tests."""

    program: str
    message: str
    visible: list[tuple[str, str]] = field(default_factory=list)
    hidden: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (pairs become two-element lists)."""
        return {
            "program": self.program,
            "message": self.message,
            "visible": [[i, o] for i, o in self.visible],
            "hidden": [[i, o] for i, o in self.hidden],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InductionTask:
        """Inverse of `to_dict`; `program` and `message` may be absent (grading needs neither)."""
        program = data.get("program", data.get("code", ""))
        message = data.get("message", "")
        if not isinstance(program, str) or not isinstance(message, str):
            raise ValueError("induction task: fields 'program' and 'message' must be strings")
        return cls(
            program=program,
            message=message,
            visible=_pairs(data, "visible"),
            hidden=_pairs(data, "hidden"),
        )
