"""One self-play step and the seeding phase (docs/algorithm.md, section 2), free of run-dir
plumbing.

A step, as `SelfPlay.step` reads top to bottom: propose (one prompt per task type x batch)
-> validate in the sandbox -> build solver batches and n learnability attempts per valid
proposal -> generate them in one call -> grade in one sandbox batch -> rewards -> advantages
-> one update on the six (task type x role) groups. Every stage is a short method over typed
`Rollout`s; what differs per task type comes from its spec (`azr.tasks.types`). Nothing here
writes to disk: the step returns what the trainer commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from azr.buffers import TaskStore
from azr.config import TrainConfig
from azr.interrupts import signal_point
from azr.policy.base import (
    Completion,
    Generator,
    Learner,
    SamplingParams,
    UpdateBatch,
    UpdateSample,
    takes_progress,
)
from azr.rewards import answer_reward, learnability_reward, proposer_reward
from azr.selfplay.progress import PhaseTimer, Progress
from azr.selfplay.records import IDENTITY_INDUCTION_INPUTS, IDENTITY_PROGRAM, stored_tasks
from azr.selfplay.rollout import NewTask, Purpose, Rollout, StepResult, group_metrics
from azr.tasks import engine
from azr.tasks.model import Role, Task, TaskType
from azr.tasks.prompts import PromptRenderer, answer_prefill
from azr.tasks.types import ProposalSettings, TaskSpec, get

Pool = dict[str, list[Task]]  # tasks by type while seeding (the store is used in steps)


@dataclass
class SeedRound:
    """What one seeding round adds to the buffers (round 0: the identity seeds)."""

    number: int
    new_tasks: list[NewTask]
    rollouts: list[Rollout]  # its proposals, for samples.jsonl
    last: bool  # seeding ends with this round
    metrics: dict[str, Any] = field(default_factory=dict)  # the seeding report (last round)


class SelfPlay:
    """The Absolute Zero loop over a learner, a generator, a sandbox executor and a task store.

    `policy` is the learner (updates, checkpoints); `generator` samples and defaults to the
    policy itself (`Policy` is both). A separate generator is synced after every update.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        policy: Learner,
        executor: Any,
        store: TaskStore,
        rng: np.random.Generator,
        progress: Progress | None = None,
        *,
        generator: Generator | None = None,
    ) -> None:
        self.cfg = cfg
        self.policy = policy
        if generator is None:
            if not isinstance(policy, Generator):
                raise TypeError("the learner cannot generate: pass a generator")
            generator = policy
        self.generator: Generator = generator
        self.executor = executor
        self.store = store
        self.rng = rng
        self.progress = progress or Progress(quiet=True)
        self.types = [TaskType(t) for t in cfg.selfplay.task_types]
        self.timer = PhaseTimer()
        self.renderer = PromptRenderer(cfg.model.prompt_style, generator.format_prompt)
        sp = cfg.selfplay
        self.settings = ProposalSettings(
            references=sp.references,
            induction_inputs=sp.induction_inputs,
            induction_visible=sp.induction_visible,
            timeout_s=cfg.executor.timeout_s,
            task_types=tuple(self.types),
        )

    def render(self, user_text: str) -> str:
        """The full prompt for `user_text` (training's renderer, primed inside `<think>`)."""
        return self.renderer.render(user_text)

    def solver_input(self, spec: TaskSpec, task: Task) -> tuple[str, str]:
        """The full solver prompt for `task` and the reply's start it ends with (empty unless
        `selfplay.solver_prefill`: then up to the answer block's opening fence)."""
        prefill = answer_prefill(spec.answer_block) if self.cfg.selfplay.solver_prefill else ""
        return self.render(spec.solver_prompt(task)) + prefill, prefill

    # ----------------------------------------------------------------- the step

    def step(self, step: int) -> StepResult:
        """Run training step `step` (>= 1) and return what to commit."""
        self.timer = PhaseTimer()
        proposals = self.propose(f"{step}", self.types, None, Purpose.PROPOSE)
        self.generate(
            proposals, self.cfg.sampling.proposer_max_new_tokens, f"step {step}: proposing"
        )
        with self.progress.phase(f"step {step}: validating {len(proposals)} proposals"):
            self.validate(proposals)
        solves = self.solver_batch(step, proposals)
        attempts = self.learnability_batch(proposals)
        answers = solves + attempts
        label = f"step {step}: solving ({len(solves)} solver, {len(attempts)} learnability)"
        self.generate(answers, self.cfg.sampling.solver_max_new_tokens, label)
        self.grade(step, answers)
        self.reward_proposals(proposals, attempts)
        trained = self.trained(proposals, solves, attempts)
        update_metrics = self.update(trained, step)
        with self.timer.phase("sync"):
            self.generator.sync_from(self.policy)
        return StepResult(
            new_tasks=[NewTask(p.task_type, p.task, p.key) for p in proposals if p.task],
            rollouts=proposals + answers,
            metrics={**group_metrics(trained), **update_metrics},
        )

    # ----------------------------------------------------------------- stages

    def propose(
        self, id_prefix: str, types: Sequence[TaskType], pool: Pool | None, purpose: Purpose
    ) -> list[Rollout]:
        """`batch_size` proposer prompts per type, each with its context tasks."""
        out = []
        for t in types:
            spec = get(t)
            sources, k = spec.context_sources(self.settings)
            for i in range(self.cfg.selfplay.batch_size):
                context = self._sample(list(sources), k, pool)
                prompt = self.render(spec.proposer_prompt(context, self.settings))
                rid = f"{id_prefix}:{spec.short}:p:{i}"
                out.append(Rollout(t, Role.PROPOSER, purpose, rid, prompt, context=context))
        return out

    def _sample(self, types: list[str], k: int, pool: Pool | None) -> list[Task]:
        """Uniform sample of k tasks from the store, or from an in-memory pool while seeding."""
        if pool is None:
            return stored_tasks(self.store.sample_uniform(types, k, self.rng))
        items = [t for ty in types for t in pool.get(ty, [])]
        if not items or k <= 0:
            return []
        idx = self.rng.choice(len(items), size=k, replace=k > len(items))
        return [items[int(i)] for i in idx]

    def generate(self, rollouts: Sequence[Rollout], max_new_tokens: int, label: str) -> None:
        """Fill every rollout's completion with ONE batched generate call, showing its progress
        (responses done, elapsed, time left) while it runs."""
        if not rollouts:
            return
        s = self.cfg.sampling
        params = SamplingParams(
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=max_new_tokens,
            seed=int(self.rng.integers(2**31 - 1)),
        )
        prompts = [r.prompt for r in rollouts]
        # Calls with the same token budget pace alike: the last one's pace is the next's estimate.
        kind = f"max {max_new_tokens} tokens"
        with (
            self.progress.generation(label, len(rollouts), kind) as report,
            self.timer.phase("generation"),
        ):
            if takes_progress(self.generator):
                out = self.generator.generate(prompts, n=1, sampling=params, progress=report)
            else:
                out = self.generator.generate(prompts, n=1, sampling=params)
        for r, comps in zip(rollouts, out, strict=True):
            r.completion = comps[0] if comps else Completion(prompt=r.prompt, text="")

    def validate(self, proposals: Sequence[Rollout]) -> None:
        """Validate proposals in one sandbox batch per task type; valid ones get their task."""
        for t in dict.fromkeys(p.task_type for p in proposals):
            group = [p for p in proposals if p.task_type == t]
            with self.timer.phase("execution"):
                results = engine.validate_batch(
                    self.executor,
                    t,
                    [p.graded_text(self.cfg.selfplay.end_closes_answer) for p in group],
                    [p.context for p in group],
                    self.settings,
                )
            for p, res in zip(group, results, strict=True):
                p.format_ok, p.valid, p.reason = res.format_ok, res.valid, res.reason
                if res.valid and res.task is not None:
                    p.task = res.task
                    p.key = NewTask.of(t, res.task).key

    def solver_batch(self, step: int, proposals: Sequence[Rollout]) -> list[Rollout]:
        """Per type: this step's (or the previous step's) new tasks first, then the buffer."""
        out = []
        for t in self.types:
            fresh = [p.task for p in proposals if p.task_type == t and p.task is not None]
            spec = get(t)
            for i, task in enumerate(self._solver_tasks(step, t, fresh)):
                prompt, prefill = self.solver_input(spec, task)
                rid = f"{step}:{spec.short}:s:{i}"
                out.append(
                    Rollout(t, Role.SOLVER, Purpose.SOLVE, rid, prompt, task=task, prefill=prefill)
                )
        return out

    def _solver_tasks(self, step: int, task_type: str, fresh: list[Task]) -> list[Task]:
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

    def learnability_batch(self, proposals: Sequence[Rollout]) -> list[Rollout]:
        """n solver attempts at every valid proposal's task (one shared prompt group each)."""
        out = []
        for p in proposals:
            if p.task is None:
                continue
            prompt, prefill = self.solver_input(p.spec, p.task)
            group = f"{p.prompt_id}:l0"
            for j in range(self.cfg.selfplay.learnability_samples):
                rid = f"{p.prompt_id}:l{j}"
                out.append(
                    Rollout(
                        p.task_type,
                        Role.SOLVER,
                        Purpose.LEARNABILITY,
                        rid,
                        prompt,
                        task=p.task,
                        group=group,
                        owner=p,
                        prefill=prefill,
                    )
                )
        return out

    def grade(self, step: int, answers: Sequence[Rollout]) -> None:
        """Grade every answer in one sandbox batch and give it its solver reward."""
        closes = self.cfg.selfplay.end_closes_answer
        items = [
            (a.task_type, a.task, a.graded_text(closes)) for a in answers if a.task is not None
        ]
        with (
            self.progress.phase(f"step {step}: grading {len(items)} answers"),
            self.timer.phase("execution"),
        ):
            grades = engine.grade_mixed(self.executor, items)  # type: ignore[arg-type]
        sp = self.cfg.selfplay
        for a, g in zip(answers, grades, strict=True):
            a.format_ok, a.valid, a.correct, a.reason = (
                g.format_ok,
                g.format_ok,
                g.correct,
                g.reason,
            )
            a.reward = answer_reward(
                g.format_ok, g.correct, scheme=sp.reward, zero_reward_penalty=sp.zero_reward_penalty
            )

    def reward_proposals(self, proposals: Sequence[Rollout], attempts: Sequence[Rollout]) -> None:
        """Proposer rewards: the learnability of each valid task from its n attempts."""
        hits: dict[int, list[bool]] = {}
        for a in attempts:
            hits.setdefault(id(a.owner), []).append(bool(a.correct))
        sp = self.cfg.selfplay
        for p in proposals:
            role_reward = 0.0
            if p.valid:
                got = hits.get(id(p), [])
                p.solve_rate = sum(got) / len(got) if got else 0.0
                role_reward = learnability_reward(sum(got), len(got))
            p.reward = proposer_reward(
                p.format_ok,
                p.valid,
                role_reward,
                scheme=sp.reward,
                zero_reward_penalty=sp.zero_reward_penalty,
            )

    def trained(
        self, proposals: list[Rollout], solves: list[Rollout], attempts: list[Rollout]
    ) -> list[Rollout]:
        """What the update trains on: the six groups, plus (for an estimator that uses prompt
        groups, e.g. GRPO) the n attempts of each proposal, the only responses sharing a prompt."""
        from azr.advantages import get_adv_estimator

        repeated = get_adv_estimator(self.cfg.selfplay.advantage).uses_prompt_groups
        return proposals + solves + (attempts if repeated else [])

    def update(self, trained: list[Rollout], step: int) -> dict[str, float]:
        """Advantages over the (task type x role) groups, then one policy update."""
        from azr.advantages import compute_advantages

        sp = self.cfg.selfplay
        adv = compute_advantages(
            [float(r.reward or 0.0) for r in trained],
            [f"{r.task_type}/{r.role}" for r in trained],
            method=sp.advantage,
            lengths=[max(1, r.n_tokens) for r in trained],
            prompt_ids=[r.group for r in trained],
        )
        for r, a in zip(trained, adv, strict=True):
            r.advantage = float(a)
        pairs = [
            (r.completion, float(a), r.role)
            for r, a in zip(trained, adv, strict=True)
            if r.completion
        ]
        # The loss is a token mean over every trained response, skipped ones included, so
        # skipping zero-advantage responses leaves the policy gradient exactly as it was.
        norm = sum(len(c.token_ids) for c, _, _ in pairs)
        samples = [
            UpdateSample(c, a, group=role)  # the update's entropy is reported per role too
            for c, a, role in pairs
            if a != 0.0 or not sp.skip_zero_advantage
        ]
        with (
            self.progress.phase(f"step {step}: updating on {len(samples)} responses"),
            self.timer.phase("update"),
        ):
            signal_point("update", step)  # test hook (AZR_SIGINT_AT)
            metrics = self.policy.update(UpdateBatch(samples, norm_tokens=norm))
        out = {f"update/{k}": float(v) for k, v in metrics.items()}
        out["update/skipped_zero_advantage"] = float(len(pairs) - len(samples))
        return out

    # ----------------------------------------------------------------- seeding

    def identity_seeds(self) -> list[NewTask]:
        """One identity task per type of the run, outputs computed by the sandbox."""
        inputs = list(IDENTITY_INDUCTION_INPUTS[: max(1, self.cfg.selfplay.induction_inputs)])
        with self.timer.phase("execution"):
            checks = engine.run_pairs(self.executor, [(IDENTITY_PROGRAM, i) for i in inputs])
        bad = [c for c in checks if not (c.valid and c.output is not None)]
        if bad:
            raise RuntimeError(f"the sandbox rejects the identity program: {bad[0].reason}")
        pairs = [(i, str(c.output)) for i, c in zip(inputs, checks, strict=True)]
        return [
            NewTask.of(t, get(t).identity_seed(IDENTITY_PROGRAM, pairs, self.settings))
            for t in self.types
        ]

    def seed(self) -> StepResult:
        """All of seeding in memory (`seed_rounds` from the start), as one result."""
        result = StepResult()
        for r in self.seed_rounds():
            result.new_tasks.extend(r.new_tasks)
            result.rollouts.extend(r.rollouts)
            result.metrics = r.metrics
        return result

    def seed_rounds(self, after: int | None = None) -> Iterator[SeedRound]:
        """Propose without updates until every buffer holds `seed_buffer_size` distinct tasks
        or `seed_max_rounds` rounds are spent; the identity seeds (round 0) are always present.

        Each round is yielded as soon as it is done, so the trainer can commit it; the last one
        comes with `last` set and the seeding report. `after` continues seeding after that
        committed round, with the tasks committed so far read back from the store."""
        sp = self.cfg.selfplay
        pool: Pool = {t: [] for t in self.types}
        keys: set[tuple[str, str]] = set()

        def add(new: NewTask) -> bool:
            if (new.task_type, new.key) in keys:
                return False
            keys.add((new.task_type, new.key))
            pool.setdefault(new.task_type, []).append(new.task)
            return True

        rounds = after or 0
        if after is None:
            seeds = [n for n in self.identity_seeds() if add(n)]
            yield self._seed_round(0, seeds, [], pool)
        else:
            for t in self.types:
                for stored in stored_tasks(self.store.all_tasks(t)):
                    add(NewTask.of(t, stored))
            if self._seeded(pool, rounds):  # nothing left (e.g. fewer rounds allowed now)
                yield self._seed_round(rounds, [], [], pool)
        while not self._seeded(pool, rounds):
            rounds += 1
            props = self._seed_proposals(rounds, pool)
            new: list[NewTask] = []
            for p in props:
                if p.task is not None and len(pool[p.task_type]) < sp.seed_buffer_size:
                    found = NewTask(p.task_type, p.task, p.key)
                    if add(found):
                        new.append(found)
            yield self._seed_round(rounds, new, props, pool)

    def _seeded(self, pool: Pool, rounds: int) -> bool:
        """Whether seeding is over: every buffer full, or every round spent."""
        sp = self.cfg.selfplay
        full = all(len(pool[t]) >= sp.seed_buffer_size for t in self.types)
        return full or rounds >= sp.seed_max_rounds

    def _seed_proposals(self, rounds: int, pool: Pool) -> list[Rollout]:
        """One seeding round's proposals for the types still short, generated and validated."""
        sp = self.cfg.selfplay
        short = [t for t in self.types if len(pool[t]) < sp.seed_buffer_size]
        props = self.propose(f"0:r{rounds}", short, pool, Purpose.SEED)
        label = f"seeding round {rounds} (of at most {sp.seed_max_rounds})"
        signal_point("seed-round", rounds)  # test hook (AZR_SIGINT_AT)
        self.generate(props, self.cfg.sampling.proposer_max_new_tokens, label)
        self.validate(props)
        return props

    def _seed_round(
        self, number: int, new: list[NewTask], rollouts: list[Rollout], pool: Pool
    ) -> SeedRound:
        last = self._seeded(pool, number)
        report = self._seed_report(number, pool) if last else {}
        return SeedRound(number, new, rollouts, last, report)

    def _seed_report(self, rounds: int, pool: Pool) -> dict[str, Any]:
        target = self.cfg.selfplay.seed_buffer_size
        counts = {t: len(pool[t]) for t in self.types}
        lacking = {t: n for t, n in counts.items() if n < target}
        if lacking:
            desc = ", ".join(f"{t} {n}/{target}" for t, n in lacking.items())
            self.progress.warn(
                f"seeding stopped after {rounds} round(s) (selfplay.seed_max_rounds) with "
                f"fewer valid distinct tasks than selfplay.seed_buffer_size: {desc}; the model "
                "rarely writes valid tasks yet. Training continues with what the buffers hold."
            )
        return {"seed/rounds": rounds, **{f"seed/{t}": n for t, n in counts.items()}}
