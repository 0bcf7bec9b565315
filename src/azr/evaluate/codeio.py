"""CodeI/O input and output prediction on the programs bundled with `reasoning-gym`.

reasoning-gym ships `codeio.jsonl.gz`: a task description, an input/output spec, a reference
program `main_solution(**inputs)` and an input generator `generate_inputs(rng)`. It makes I/O
pairs by `exec` in its own process; we make them in the sandbox instead, with a small seeded
pure-Python `Random` in place of the `random` module (which our policy forbids). So the pairs are
deterministic per problem but differ from the ones reasoning-gym would draw. Problem k is an
output-prediction task for even k and an input-prediction task for odd k. Programs the sandbox
refuses (e.g. they import a forbidden module) are dropped by `prepare`.

Scoring (CodeI/O, binary): an output prediction is correct when its JSON equals the gold output;
an input prediction when `main_solution(**prediction)`, run in the sandbox, returns the gold
output. `--data PATH` takes fixed tasks: JSONL with `code`, `input` (JSON object of arguments),
`output`, and `mode` (`output` or `input`).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from azr.evaluate.execution import Job, run_jobs
from azr.evaluate.problems import (
    Benchmark,
    ExecutorLike,
    Problem,
    ProgressCallback,
    PromptStyle,
    register,
    resolve_records,
    take,
)

# A seeded stand-in for random.Random (splitmix64), defined in the sandboxed program.
_RANDOM_STUB = """
class Random:
    def __init__(self, seed=0):
        self._s = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    def _next(self):
        self._s = (self._s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self._s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return z ^ (z >> 31)
    def random(self):
        return (self._next() >> 11) / 9007199254740992.0
    def getrandbits(self, k):
        out, bits = 0, 0
        while bits < k:
            out = (out << 64) | self._next()
            bits += 64
        return out >> (bits - k)
    def randbytes(self, n):
        return bytes(self.randrange(256) for _ in range(n))
    def randrange(self, start, stop=None, step=1):
        if stop is None:
            start, stop = 0, start
        width = (stop - start + step - 1) // step if step > 0 else (start - stop - step - 1) // -step
        if width <= 0:
            raise ValueError("empty range for randrange")
        return start + step * (self._next() % width)
    def randint(self, a, b):
        return self.randrange(a, b + 1)
    def uniform(self, a, b):
        return a + (b - a) * self.random()
    def normalvariate(self, mu=0.0, sigma=1.0):
        u1 = max(self.random(), 1e-300)
        u2 = self.random()
        return mu + sigma * (-2.0 * _azr_log(u1)) ** 0.5 * _azr_cos(6.283185307179586 * u2)
    gauss = normalvariate
    def choice(self, seq):
        if not len(seq):
            raise IndexError("choice from an empty sequence")
        return seq[self.randrange(len(seq))]
    def shuffle(self, x):
        for i in range(len(x) - 1, 0, -1):
            j = self.randrange(i + 1)
            x[i], x[j] = x[j], x[i]
    def sample(self, population, k):
        pool = list(population)
        self.shuffle(pool)
        return pool[:k]
    def choices(self, population, weights=None, *, cum_weights=None, k=1):
        pool = list(population)
        if weights is None and cum_weights is None:
            return [pool[self.randrange(len(pool))] for _ in range(k)]
        if cum_weights is None:
            cum_weights, total = [], 0
            for w in weights:
                total += w
                cum_weights.append(total)
        top = cum_weights[-1]
        out = []
        for _ in range(k):
            r = self.random() * top
            i = 0
            while i < len(cum_weights) - 1 and cum_weights[i] <= r:
                i += 1
            out.append(pool[i])
        return out
"""

_PAIR_FN = """
def _azr_pair(seed):
    inputs = generate_inputs(Random(seed))
    # Copied first: some solutions mutate their arguments, and the task shows the inputs as given.
    shown = _azr_deepcopy(inputs)
    return (shown, main_solution(**inputs))
"""

_OUTPUT_PROMPT = """You are given a question that requires some input and output variables as \
follows:

{query}

The input and output requirements are as follows:

{spec}

Given the following input:

{data}

Can you predict the output without writing any code? Please think and then provide the exact \
output in the form of a JSON value as your final answer, inside <answer> </answer> tags.

Tip: Here is a reference code snippet for this question. You can refer to this code to guide \
your reasoning but not copy spans of code directly.

{code}
"""

_INPUT_PROMPT = """You are given a question that requires some input and output variables as \
follows:

{query}

The input and output requirements are as follows:

{spec}

Given the following output:

{data}

Can you predict a feasible input without writing any code? Please reason and put your final \
answer in the form of a JSON object, with keys matching the input variables' names, inside \
<answer> </answer> tags.

Tip: Here is a reference code snippet for this question. You can refer to this code to guide \
your reasoning but not copy spans of code directly.

{code}
"""

_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


def bundled_path() -> Path | None:
    """`codeio.jsonl.gz` shipped in `reasoning-gym`, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("reasoning_gym")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "codeio.jsonl.gz"
    return path if path.exists() else None


def _json_normal(value: Any) -> Any:
    """The value as JSON would carry it (tuples become lists); ValueError when impossible."""
    return json.loads(json.dumps(value, allow_nan=False))


def _parse_json(text: str) -> Any:
    """A JSON answer, leniently: JSON first, then a Python literal (models write both)."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").split("\n", 1)[-1] if "\n" in text else text.strip("`")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return _json_normal(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        raise ValueError("not a JSON value") from None


class CodeIO(Benchmark):
    """CodeI/O-style input/output prediction (reasoning-gym's bundled programs)."""

    name = "codeio"
    description = "CodeI/O input/output prediction (reasoning-gym data)"
    timeout_s = 5.0
    max_new_tokens = 512

    def load(self, data: Path | None = None, limit: int | None = None) -> list[Problem]:
        """Fixed tasks from `data`, or the bundled programs (I/O made later by `prepare`)."""
        records = resolve_records(data, bundled_path(), "CodeI/O (pip install reasoning-gym)")
        problems = []
        for i, rec in enumerate(records):
            if data is not None:
                if not isinstance(rec.get("code"), str) or rec.get("mode") not in (
                    "input",
                    "output",
                ):
                    raise ValueError(f"codeio record {i}: needs 'code' and 'mode' (input|output)")
                fields = {k: rec.get(k) for k in ("code", "input", "output", "mode")}
                fields.update(query=rec.get("query", ""), spec=rec.get("spec", ""))
                problems.append(Problem(id=str(rec.get("id", f"codeio-{i}")), fields=fields))
                continue
            fields = {
                "code": rec["code_sample"],
                "generator": rec["input_generator"],
                "query": rec["task_description"],
                "spec": rec["input_output_spec"],
                "mode": "output" if i % 2 == 0 else "input",
                "seed": i,
            }
            problems.append(Problem(id=f"codeio-{i}", fields=fields))
        if data is None:
            # Many bundled programs cannot run in our sandbox, so `limit` counts usable problems:
            # `prepare` builds candidates in order until it has that many.
            self._wanted = limit
            return problems
        return take(problems, limit)

    _wanted: int | None = None

    def prepare(self, problems: list[Problem], executor: ExecutorLike | None) -> list[Problem]:
        """Make bundled problems' I/O pairs in the sandbox, dropping those that fail; with a
        `limit` given to `load`, stop once that many are usable."""
        wanted, self._wanted = self._wanted, None
        if wanted is None:
            return self._prepare(problems, executor)
        ready: list[Problem] = []
        step = max(32, 2 * wanted)
        for start in range(0, len(problems), step):
            if len(ready) >= wanted:
                break
            ready += self._prepare(problems[start : start + step], executor)
        return ready[:wanted]

    def _prepare(self, problems: list[Problem], executor: ExecutorLike | None) -> list[Problem]:
        todo = [p for p in problems if "output" not in p.fields]
        if not todo:
            return problems
        if executor is None:
            raise ValueError("codeio needs the sandbox to make its I/O pairs")
        jobs = [
            Job(
                program=f"{_RANDOM_STUB}\nfrom math import log as _azr_log, cos as _azr_cos\n"
                "from copy import deepcopy as _azr_deepcopy\n"
                f"{p.fields['code']}\n\n{p.fields['generator']}\n{_PAIR_FN}",
                expr=f"_azr_pair({p.fields['seed']})",
            )
            for p in todo
        ]
        made: dict[str, Problem] = {}
        for problem, outcome in zip(todo, run_jobs(executor, jobs), strict=True):
            try:
                if not outcome.ok or outcome.value_repr is None:
                    continue
                inputs, output = ast.literal_eval(outcome.value_repr)
                if not isinstance(inputs, dict) or not all(isinstance(k, str) for k in inputs):
                    continue
                fields = {
                    **problem.fields,
                    "input": _json_normal(inputs),
                    "output": _json_normal(output),
                }
            except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
                continue
            made[problem.id] = Problem(id=problem.id, fields=fields)
        # Keep a problem only if its gold answer, as JSON, passes our own scoring: solutions that
        # take tuples or sets lose them in JSON, and then the shown input no longer works.
        fresh = list(made.values())
        gold = [[json.dumps(p.fields[p.fields["mode"]])] for p in fresh]
        for problem, verdict in zip(fresh, self.score(fresh, gold, executor), strict=True):
            if not verdict[0]:
                del made[problem.id]
        return [made.get(p.id, p) for p in problems if p.id in made or "output" in p.fields]

    def prompt(self, problem: Problem, style: PromptStyle = "benchmark") -> str:
        """reasoning-gym's CodeI/O prompt (answer in <answer> tags); ours is it as a user message."""
        f = problem.fields
        template = _OUTPUT_PROMPT if f["mode"] == "output" else _INPUT_PROMPT
        shown = f["input"] if f["mode"] == "output" else f["output"]
        text = template.format(
            query=f["query"], spec=f["spec"], data=json.dumps(shown), code=f["code"]
        )
        return text.strip() if style == "ours" else text

    def stop(self, style: PromptStyle = "benchmark") -> tuple[str, ...]:
        """Both styles answer inside <answer> tags."""
        return ("</answer>",)

    def extract(self, problem: Problem, text: str, style: PromptStyle = "benchmark") -> str:
        """The last <answer> block's content (the whole text when there is none)."""
        found = _ANSWER.findall(text)
        return (found[-1] if found else text).strip()

    def score(
        self,
        problems: Sequence[Problem],
        generations: Sequence[Sequence[str]],
        executor: ExecutorLike | None,
        scoring: str = "official",
        progress: ProgressCallback | None = None,
    ) -> list[list[bool]]:
        """Exact JSON match for outputs; sandboxed re-execution for inputs."""
        self.check_scoring(scoring)
        verdicts: list[list[Any]] = []
        jobs: list[Job] = []
        where: list[tuple[int, int]] = []
        for i, (problem, gens) in enumerate(zip(problems, generations, strict=True)):
            f = problem.fields
            row: list[Any] = []
            for j, gen in enumerate(gens):
                try:
                    answer = _parse_json(gen)
                except ValueError:
                    row.append(False)
                    continue
                if f["mode"] == "output":
                    row.append(answer == f["output"])
                elif isinstance(answer, dict) and all(isinstance(k, str) for k in answer):
                    jobs.append(Job(program=f["code"], expr=f"main_solution(**{answer!r})"))
                    where.append((i, j))
                    row.append(None)
                else:
                    row.append(False)
            verdicts.append(row)
        if jobs:
            if executor is None:
                raise ValueError("scoring codeio input prediction needs the sandbox executor")
            for (i, j), outcome in zip(where, run_jobs(executor, jobs), strict=True):
                verdicts[i][j] = _same_output(outcome, problems[i].fields["output"])
        if progress is not None:
            progress(sum(len(g) for g in generations))
        return [[bool(v) for v in row] for row in verdicts]


def _same_output(outcome: Any, gold: Any) -> bool:
    if not outcome.ok or outcome.value_repr is None:
        return False
    try:
        value = _json_normal(ast.literal_eval(outcome.value_repr))
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return False
    if isinstance(value, float) and isinstance(gold, float) and math.isnan(value):
        return False
    return bool(value == gold)


register("codeio", CodeIO)
