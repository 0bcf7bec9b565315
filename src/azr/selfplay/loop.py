"""One self-play step and the seeding phase (SPEC.md section 2), free of run-dir plumbing.

A step: propose (deduction, abduction, induction) -> validate in the sandbox -> build solver
batches -> generate solver answers and n learnability attempts per valid proposal in one
generate call -> grade in one sandbox batch -> rewards -> TRR++ advantages -> one update on
the six (task type x role) groups. Nothing here writes to disk: the step returns what the
trainer commits (new tasks, generations, metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from azr.buffers import TaskStore, dedup_key
from azr.config import TrainConfig
from azr.policy.base import Completion, Policy, SamplingParams, UpdateBatch, UpdateSample
from azr.rewards import answer_reward, learnability_reward, proposer_reward
from azr.selfplay.progress import PhaseTimer, Progress
from azr.selfplay.records import (
    IDENTITY_INDUCTION_INPUTS,
    IDENTITY_INPUT,
    IDENTITY_MESSAGE,
    IDENTITY_PROGRAM,
    SHORT,
    THINK_PRIMER,
    Generation,
    as_triplet,
    group_metrics,
    stored_tasks,
    task_from_payload,
)
from azr.tasks import engine
from azr.tasks.model import InductionTask, Task, TaskType, Triplet
from azr.tasks.prompts import proposer_prompt, solver_prompt, wrap


@dataclass
class StepResult:
    """What a step (or seeding) produced, for the trainer to commit."""

    new_tasks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


class SelfPlay:
    """The Absolute Zero loop over a policy, a sandbox executor and a task store."""

    def __init__(
        self,
        cfg: TrainConfig,
        policy: Policy,
        executor: Any,
        store: TaskStore,
        rng: np.random.Generator,
        progress: Progress | None = None,
    ) -> None:
        self.cfg = cfg
        self.policy = policy
        self.executor = executor
        self.store = store
        self.rng = rng
        self.progress = progress or Progress(quiet=True)
        self.types = list(cfg.selfplay.task_types)
        self.timer = PhaseTimer()
        self._primed = self.render("x").endswith(THINK_PRIMER)

    # ----------------------------------------------------------------- prompts & generation

    def render(self, user_text: str) -> str:
        """The full prompt for `user_text`, primed inside `<think>`."""
        if self.cfg.model.prompt_style == "base":
            return wrap(user_text, "base")
        text = self.policy.format_prompt(user_text)
        return text if text.endswith(THINK_PRIMER) else text + THINK_PRIMER

    def generate(self, gens: Sequence[Generation], max_new_tokens: int, label: str) -> None:
        """Fill `gens[i].completion` with ONE batched generate call (the policy micro-batches)."""
        if not gens:
            return
        s = self.cfg.sampling
        params = SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=max_new_tokens,
            seed=int(self.rng.integers(2**31 - 1)),
        )
        with (
            self.progress.phase(f"{label}: generating {len(gens)} responses"),
            self.timer.phase("generation"),
        ):
            out = self.policy.generate([g.prompt for g in gens], n=1, sampling=params)
        for g, comps in zip(gens, out, strict=True):
            g.completion = comps[0] if comps else Completion(prompt=g.prompt, text="")

    # ----------------------------------------------------------------- proposing

    def _proposal_gens(
        self, step: int, task_type: str, count: int, pool: dict[str, list[Task]] | None, tag: str
    ) -> list[Generation]:
        """Proposer prompts with K references (or one program for induction)."""
        sp = self.cfg.selfplay
        gens = []
        for i in range(count):
            if task_type == "induction":
                prog = as_triplet(self._sample(["deduction", "abduction"], 1, pool)[0])
                text = proposer_prompt(
                    task_type,
                    [],
                    n_inputs=sp.induction_inputs,
                    program_for_induction=prog,
                    timeout_s=self.cfg.executor.timeout_s,
                )
                extra: dict[str, Any] = {"source_program": prog}
            else:
                refs = [as_triplet(t) for t in self._sample([task_type], sp.references, pool)]
                text = proposer_prompt(task_type, refs, timeout_s=self.cfg.executor.timeout_s)
                extra = {"references": refs}
            gen = Generation(
                task_type, "proposer", tag, f"{step}:{SHORT[task_type]}:p:{i}", self.render(text)
            )
            gen.extra = extra  # objects, replaced by JSON-able values after validation
            gens.append(gen)
        return gens

    def _sample(self, types: list[str], k: int, pool: dict[str, list[Task]] | None) -> list[Task]:
        """Uniform sample of k tasks from the store, or from an in-memory pool while seeding."""
        if pool is None:
            return stored_tasks(self.store.sample_uniform(types, k, self.rng))
        items = [t for ty in types for t in pool.get(ty, [])]
        if not items or k <= 0:
            return []
        idx = self.rng.choice(len(items), size=k, replace=k > len(items))
        return [items[int(i)] for i in idx]

    def _validate(self, task_type: str, gens: list[Generation]) -> None:
        """Validate proposer completions of one type in one sandbox batch."""
        if not gens:
            return
        sp = self.cfg.selfplay
        texts = [g.text for g in gens]
        with self.timer.phase("execution"):
            if task_type == "induction":
                results = engine.validate_proposals(
                    self.executor,
                    task_type,
                    texts,
                    n_inputs=sp.induction_inputs,
                    n_visible=sp.induction_visible,
                    induction_programs=[g.extra["source_program"] for g in gens],
                    primed_think=self._primed,
                )
            else:
                refs: dict[tuple[str, str], Triplet] = {}
                for g in gens:
                    for r in g.extra["references"]:
                        refs[(r.program, r.input)] = r
                results = engine.validate_proposals(
                    self.executor,
                    task_type,
                    texts,
                    list(refs.values()),
                    primed_think=self._primed,
                )
        for g, res in zip(gens, results, strict=True):
            g.format_ok, g.valid, g.reason = res.format_ok, res.valid, res.reason
            g.task = res.task.to_dict() if (res.valid and res.task is not None) else None
            if "source_program" in g.extra:
                g.extra = {"source_program": g.extra["source_program"].program}
            else:
                g.extra = {"references": [r.to_dict() for r in g.extra["references"]]}

    # ----------------------------------------------------------------- seeding

    def identity_seeds(self) -> list[tuple[str, dict[str, Any]]]:
        """The identity triplet (deduction and abduction) and an identity induction task,
        with outputs computed by the sandbox."""
        sp = self.cfg.selfplay
        inputs = [IDENTITY_INPUT, *IDENTITY_INDUCTION_INPUTS[1 : sp.induction_inputs]]
        with self.timer.phase("execution"):
            checks = engine.run_pairs(self.executor, [(IDENTITY_PROGRAM, i) for i in inputs])
        if not all(c.valid and c.output is not None for c in checks):
            bad = next(c.reason for c in checks if not c.valid)
            raise RuntimeError(f"the sandbox rejects the identity program: {bad}")
        pairs = [(i, str(c.output)) for i, c in zip(inputs, checks, strict=True)]
        triplet = Triplet(IDENTITY_PROGRAM, IDENTITY_INPUT, pairs[0][1]).to_dict()
        induction = InductionTask(
            IDENTITY_PROGRAM,
            IDENTITY_MESSAGE,
            visible=pairs[: sp.induction_visible],
            hidden=pairs[sp.induction_visible :],
        ).to_dict()
        return [("deduction", triplet), ("abduction", triplet), ("induction", induction)]

    def seed(self) -> StepResult:
        """Propose without updates until every buffer holds `seed_buffer_size` distinct tasks
        or `seed_max_rounds` rounds are spent; the identity seeds are always present."""
        sp = self.cfg.selfplay
        result = StepResult()
        pool: dict[str, list[Task]] = {t: [] for t in ("deduction", "abduction", "induction")}
        keys: set[tuple[str, str]] = set()

        def add(task_type: str, payload: dict[str, Any]) -> None:
            key = (task_type, dedup_key(task_type, payload))
            if key not in keys:
                keys.add(key)
                pool[task_type].append(task_from_payload(task_type, payload))
                result.new_tasks.append((task_type, payload))

        for task_type, payload in self.identity_seeds():
            add(task_type, payload)
        target = sp.seed_buffer_size
        rounds = 0
        while rounds < sp.seed_max_rounds:
            short = [t for t in self.types if len(pool[t]) < target]
            if not short:
                break
            rounds += 1
            by_type = {t: self._proposal_gens(0, t, sp.batch_size, pool, "seed") for t in short}
            for gens in by_type.values():
                for g in gens:
                    g.prompt_id = g.prompt_id.replace("0:", f"0:r{rounds}:", 1)
            allg = [g for gens in by_type.values() for g in gens]
            self.generate(
                allg, self.cfg.sampling.proposer_max_new_tokens, f"seeding round {rounds}"
            )
            for t, gens in by_type.items():
                self._validate(t, gens)
                for g in gens:
                    if g.valid and g.task is not None and len(pool[t]) < target:
                        add(t, g.task)
            result.generations.extend(allg)
        counts = {t: len(pool[t]) for t in self.types}
        result.metrics = {"seed/rounds": rounds, **{f"seed/{t}": n for t, n in counts.items()}}
        lacking = {t: n for t, n in counts.items() if n < target}
        if lacking:
            desc = ", ".join(f"{t} {n}/{target}" for t, n in lacking.items())
            self.progress.warn(
                f"seeding stopped after {rounds} round(s) (selfplay.seed_max_rounds) with "
                f"fewer valid distinct tasks than selfplay.seed_buffer_size: {desc}; the model "
                "rarely writes valid tasks yet. Training continues with what the buffers hold."
            )
        return result

    # ----------------------------------------------------------------- one step

    def _solver_batch(self, step: int, task_type: str, fresh: list[Task]) -> list[Task]:
        """This step's (or the previous step's) new tasks first, filled up from the buffer."""
        sp = self.cfg.selfplay
        if sp.solve_tasks_from == "previous-step":
            lead = stored_tasks(self.store.tasks_of_step(task_type, step - 1))
        else:
            lead = list(fresh)
        batch = lead[: sp.batch_size]
        missing = sp.batch_size - len(batch)
        if missing > 0:
            rows = self.store.sample_recent(
                task_type,
                missing,
                self.rng,
                current_step=step,
                halflife=sp.solver_recency_halflife,
            )
            batch += stored_tasks(rows)
        return batch

    def step(self, step: int) -> StepResult:
        """Run training step `step` (>= 1) and return what to commit."""
        sp, s = self.cfg.selfplay, self.cfg.sampling
        self.timer = PhaseTimer()
        result = StepResult()
        # 1-2. propose, validate
        proposals = {
            t: self._proposal_gens(step, t, sp.batch_size, None, "propose") for t in self.types
        }
        allp = [g for gens in proposals.values() for g in gens]
        self.generate(allp, s.proposer_max_new_tokens, f"step {step}: proposing")
        with self.progress.phase(f"step {step}: validating {len(allp)} proposals"):
            for t, gens in proposals.items():
                self._validate(t, gens)
        fresh = {
            t: [task_from_payload(t, g.task) for g in gens if g.valid and g.task is not None]
            for t, gens in proposals.items()
        }
        # 3-4. solver batches and learnability attempts in one generate call
        solves: list[Generation] = []
        solve_tasks: list[Task] = []
        for t in self.types:
            for i, task in enumerate(self._solver_batch(step, t, fresh[t])):
                prompt = self.render(solver_prompt(t, task))
                solves.append(
                    Generation(
                        t,
                        "solver",
                        "solve",
                        f"{step}:{SHORT[t]}:s:{i}",
                        prompt,
                        task=task.to_dict(),
                    )
                )
                solve_tasks.append(task)
        attempts: list[Generation] = []
        attempt_tasks: list[Task] = []
        owners: list[Generation] = []
        for t in self.types:
            for g in proposals[t]:
                if not (g.valid and g.task is not None):
                    continue
                task = task_from_payload(t, g.task)
                prompt = self.render(solver_prompt(t, task))
                for j in range(sp.learnability_samples):
                    a = Generation(t, "solver", "learnability", f"{g.prompt_id}:l{j}", prompt)
                    if j > 0:  # the logs store a repeated prompt once
                        a.extra["prompt_as"] = f"{g.prompt_id}:l0"
                    attempts.append(a)
                    attempt_tasks.append(task)
                    owners.append(g)
        self.generate(
            solves + attempts,
            s.solver_max_new_tokens,
            f"step {step}: solving ({len(solves)} solver, {len(attempts)} learnability)",
        )
        # 5. grade everything in one sandbox batch
        items = [
            (TaskType(g.task_type), task, g.text)
            for g, task in zip(solves + attempts, solve_tasks + attempt_tasks, strict=True)
        ]
        with (
            self.progress.phase(f"step {step}: grading {len(items)} answers"),
            self.timer.phase("execution"),
        ):
            grades = engine.grade_mixed(self.executor, items, self._primed)
        scheme, zrp = sp.reward, sp.zero_reward_penalty
        for g, gr in zip(solves + attempts, grades, strict=True):
            g.format_ok, g.valid, g.correct, g.reason = (
                gr.format_ok,
                gr.format_ok,
                gr.correct,
                gr.reason,
            )
            g.reward = answer_reward(
                gr.format_ok, gr.correct, scheme=scheme, zero_reward_penalty=zrp
            )
        # 6. proposer rewards from the learnability attempts
        outcomes: dict[str, list[bool]] = {}
        for a, owner in zip(attempts, owners, strict=True):
            outcomes.setdefault(owner.prompt_id, []).append(bool(a.correct))
        for g in allp:
            role_reward = 0.0
            if g.valid:
                hits = outcomes.get(g.prompt_id, [])
                g.solve_rate = sum(hits) / len(hits) if hits else 0.0
                role_reward = learnability_reward(sum(hits), len(hits))
            g.reward = proposer_reward(
                g.format_ok, g.valid, role_reward, scheme=scheme, zero_reward_penalty=zrp
            )
        # 7. advantages per task x role group, one update (GRPO also trains on the n attempts
        # of each proposal: they are the only responses that share a prompt)
        trained = allp + solves + (attempts if sp.advantage == "grpo" else [])
        update_metrics = self.update(trained, step)
        result.generations = allp + solves + attempts
        result.new_tasks = [
            (t, g.task) for t in self.types for g in proposals[t] if g.valid and g.task
        ]
        result.metrics = {**group_metrics(trained), **update_metrics}
        return result

    def update(self, trained: list[Generation], step: int) -> dict[str, float]:
        """TRR++ advantages over the six groups and one policy update."""
        from azr.advantages import compute_advantages

        sp = self.cfg.selfplay
        rewards = [float(g.reward or 0.0) for g in trained]
        groups = [f"{g.task_type}/{g.role}" for g in trained]
        lengths = [max(1, g.n_tokens) for g in trained]
        adv = compute_advantages(
            rewards,
            groups,
            method=sp.advantage,
            lengths=lengths,
            prompt_ids=[g.extra.get("prompt_as", g.prompt_id) for g in trained],
        )
        for g, a in zip(trained, adv, strict=True):
            g.extra["advantage"] = round(float(a), 4)
        pairs: list[tuple[Completion, float]] = [
            (g.completion, float(a))
            for g, a in zip(trained, adv, strict=True)
            if g.completion is not None
        ]
        # The loss is a token mean over every trained response, skipped ones included, so
        # skipping zero-advantage responses leaves the policy gradient exactly as it was.
        norm = sum(len(c.token_ids) for c, _ in pairs)
        samples = [UpdateSample(c, a) for c, a in pairs if a != 0.0 or not sp.skip_zero_advantage]
        with (
            self.progress.phase(f"step {step}: updating on {len(samples)} responses"),
            self.timer.phase("update"),
        ):
            metrics = self.policy.update(UpdateBatch(samples, norm_tokens=norm))
        out = {f"update/{k}": float(v) for k, v in metrics.items()}
        out["update/skipped_zero_advantage"] = float(len(pairs) - len(samples))
        return out
