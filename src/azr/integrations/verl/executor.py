"""The sandbox on a Ray cluster: one actor per node owning a local `azr.sandbox.Executor` pool.

Model-written code still runs only inside azr's bubblewrap workers; Ray only carries batches of
`ExecRequest`s to the actor of a node and the `ExecResult`s back. `RayExecutor` is a drop-in for
`azr.sandbox.Executor` (the task engine calls `run(requests)` only), so validation and grading
code is the same as in the embedded backend. Large batches are split across the nodes' actors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import ray

from azr.sandbox import ExecRequest, ExecResult, Executor, SandboxConfig

ACTOR_PREFIX = "azr-sandbox-"
NAMESPACE = "azr"


class SandboxActor:
    """Owns an azr sandbox pool on its node and runs batches of requests on it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = SandboxConfig(**config)
        self.executor = Executor(self.config)

    def run(self, requests: Sequence[ExecRequest]) -> list[ExecResult]:
        """Run a batch (order preserved)."""
        return self.executor.run(list(requests))

    def info(self) -> dict[str, Any]:
        """Node id, pid and worker count, for logs and tests."""
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "workers": self.config.workers,
        }

    def close(self) -> None:
        """Stop the sandbox workers."""
        self.executor.close()


def _alive_nodes() -> list[str]:
    return [n["NodeID"] for n in ray.nodes() if n.get("Alive")]


def sandbox_actors(config: SandboxConfig, nodes: Sequence[str] | None = None) -> list[Any]:
    """The sandbox actor of every alive node (created on first use, shared by name)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(num_cpus=0)(SandboxActor)
    actors = []
    for node in nodes or _alive_nodes():
        actors.append(
            remote.options(
                name=ACTOR_PREFIX + node,
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime=None,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
            ).remote(asdict(config))
        )
    return actors


class RayExecutor:
    """`Executor`-compatible proxy that sends request batches to the nodes' sandbox actors."""

    def __init__(self, config: SandboxConfig, nodes: Sequence[str] | None = None) -> None:
        self.config = config
        self.actors = sandbox_actors(config, nodes)
        if not self.actors:
            raise RuntimeError("no alive Ray node to host a sandbox actor")

    def run(self, requests: Sequence[ExecRequest]) -> list[ExecResult]:
        """Run all requests, split evenly across the node actors; results in request order."""
        requests = list(requests)
        if not requests:
            return []
        k = min(len(self.actors), len(requests))
        size = -(-len(requests) // k)
        refs = [self.actors[i].run.remote(requests[i * size : (i + 1) * size]) for i in range(k)]
        return [r for part in ray.get(refs) for r in part]

    def close(self) -> None:
        """Stop the actors' sandboxes and the actors."""
        for actor in self.actors:
            try:
                ray.get(actor.close.remote())
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        self.actors = []

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LOCAL: dict[str, Any] = {}


def node_executor(config: SandboxConfig | None = None) -> Any:
    """The executor for code running inside a Ray job: this node's sandbox actor when Ray is
    up, else a process-local `Executor` (cached per process)."""
    config = config or SandboxConfig()
    if ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()
        key = "ray:" + node
        if key not in _LOCAL:
            _LOCAL[key] = RayExecutor(config, nodes=[node])
        return _LOCAL[key]
    if "local" not in _LOCAL:
        _LOCAL["local"] = Executor(config)
    return _LOCAL["local"]
