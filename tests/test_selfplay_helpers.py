"""Test helpers for the self-play loop: a scripted 'oracle' policy that writes valid tasks and
answers them about half the time, and a fake executor for when the sandbox is unavailable.

The oracle only writes programs of two shapes (identity and `x * a + b`), so the fake executor
can compute their outputs by pattern, without executing any text.
"""

from __future__ import annotations

import ast
import contextlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azr.policy.scripted import ScriptedPolicy

LINEAR = re.compile(r"return x \* (-?\d+) \+ (-?\d+)")
IDENTITY = re.compile(r"def f\(x\):\s*return x\s*$")


def _answer(think: str, blocks: list[tuple[str, str]]) -> str:
    body = "\n".join(f"```{name}\n{text}\n```" for name, text in blocks)
    return f" {think}\n</think>\n<answer>\n{body}\n</answer>"


def _fences(prompt: str, name: str) -> list[str]:
    return re.findall(rf"```{name}\n(.*?)\n```", prompt, flags=re.S)


def _linear(program: str) -> tuple[int, int] | None:
    m = LINEAR.search(program)
    return (int(m.group(1)), int(m.group(2))) if m else None


class Oracle:
    """`(prompt, k) -> completion`: valid proposals, answers right on about half the attempts."""

    def __init__(self) -> None:
        self.n = 0

    def _coin(self, prompt: str) -> bool:
        self.n += 1
        return zlib.crc32(f"{prompt[-200:]}{self.n}".encode()) % 2 == 0

    def __call__(self, prompt: str, k: int) -> str:
        self.n += 1
        n = self.n
        if "Design a new Python programming task" in prompt:
            a, b = 2 + n % 7, n % 11
            program = f"def f(x):\n    return x * {a} + {b}"
            return _answer("a linear map", [("python", program), ("input", str(n % 13))])
        if "Here is a Python program. Write" in prompt:
            count = int(re.search(r"Write (\d+) different inputs", prompt).group(1))  # type: ignore[union-attr]
            program = _fences(prompt, "python")[-1]
            if _linear(program) is None:
                inputs = [repr(f"w{n}_{i}") for i in range(count)]
                message = "Gives back its argument unchanged."
            else:
                inputs = [str(n + i) for i in range(count)]
                message = "Scales the number and shifts it."
            return _answer("inputs", [("input", i) for i in inputs] + [("message", message)])
        right = self._coin(prompt)
        # Solver prompts show a worked example task first; the real task follows "Your task:".
        task = prompt.rsplit("Your task:", 1)[-1]
        if "Work out what" in prompt:
            program, inp = _fences(task, "python")[0], _fences(task, "input")[0]
            ab = _linear(program)
            out = inp if ab is None else str(int(inp) * ab[0] + ab[1])
            return _answer("compute", [("output", out if right else "'wrong'")])
        if "Find an input for which" in prompt:
            program, out = _fences(task, "python")[0], _fences(task, "output")[0]
            ab = _linear(program)
            inp = out if ab is None else str((int(out) - ab[1]) // ab[0])
            return _answer("invert", [("input", inp if right else "-999")])
        if "Write the Python function `f`" in prompt:
            ins, outs = _fences(task, "input"), _fences(task, "output")
            try:
                x0, y0, x1, y1 = (int(ins[0]), int(outs[0]), int(ins[1]), int(outs[1]))
                a = (y1 - y0) // (x1 - x0)
                program = f"def f(x):\n    return x * {a} + {y0 - a * x0}"
            except (ValueError, IndexError, ZeroDivisionError):
                program = "def f(x):\n    return x"
            if not right:
                program = "def f(x):\n    return x * 99 + 1"
            return _answer("fit", [("python", program)])
        return "garbage"


def oracle_policy() -> ScriptedPolicy:
    """A fresh scripted policy driven by `Oracle`."""
    return ScriptedPolicy(Oracle())


# --------------------------------------------------------------------------- fake sandbox


@dataclass(frozen=True)
class FakeCheck:
    valid: bool
    output: str | None
    reason: str
    exc_type: str | None = None
    where: str | None = None

    @property
    def status(self) -> str:
        return "ok" if self.valid else "error"


def fake_run_pairs(executor: Any, pairs: list[tuple[str, str]]) -> list[FakeCheck]:
    """Outputs of the oracle's program shapes, computed by pattern (nothing is executed)."""
    out = []
    for program, inp in pairs:
        try:
            arg = ast.literal_eval(inp)
        except (ValueError, SyntaxError):
            out.append(FakeCheck(False, None, "input is not a literal"))
            continue
        ab = _linear(program)
        if IDENTITY.search(program.strip()) and ab is None:
            out.append(FakeCheck(True, repr(arg), "valid"))
        elif ab is not None and isinstance(arg, int):
            out.append(FakeCheck(True, repr(arg * ab[0] + ab[1]), "valid"))
        else:
            out.append(FakeCheck(False, None, "not a shape the fake executor knows"))
    return out


@contextlib.contextmanager
def fake_executor(_cfg: Any = None) -> Iterator[object]:
    """A stand-in executor object (the engine's sandbox calls are patched to fakes)."""
    yield object()


def test_oracle_proposals_are_valid_for_the_fake_executor() -> None:
    oracle = Oracle()
    text = oracle("Design a new Python programming task. ...", 0)
    program = re.search(r"```python\n(.*?)\n```", text, re.S).group(1)  # type: ignore[union-attr]
    inp = re.search(r"```input\n(.*?)\n```", text, re.S).group(1)  # type: ignore[union-attr]
    (check,) = fake_run_pairs(None, [(program, inp)])
    ab = _linear(program)
    assert ab is not None
    assert check.valid and int(check.output or "") == int(inp) * ab[0] + ab[1]
    assert not fake_run_pairs(None, [("import os\ndef f(x): return os", "1")])[0].valid
