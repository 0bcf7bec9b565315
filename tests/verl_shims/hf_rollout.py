"""Rollout `hf` for tests: an HF `generate` server actor behind veRL's replica interface.

- `HFServer` (Ray actor, one per replica): holds a copy of the policy on CPU, answers
  `generate(prompt_ids, sampling_params, ...)` with token ids, takes new weights.
- `HFReplica` (driver side, `RolloutReplicaRegistry` name `hf`): launches the server.
- `HFServerAdapter` (inside veRL's hybrid actor worker, `("hf", "async")`): sends the actor's
  weights to the server after each update.

With `AZR_TEST_SCRIPTED=1` the server answers from the test oracle instead of sampling (the
text is tokenized, so everything after the server - agent loop, rows, log-probs, the FSDP
update - is exercised on real tokens); a random tiny model never writes a valid task.
"""

from __future__ import annotations

import os
from typing import Any

import ray
import torch
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

SERVER_PREFIX = "azr_test_hf_server_"


class HFServer:
    """Token-in, token-out generation with transformers on CPU."""

    def __init__(self, model_path: str, scripted: bool) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(1)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
        self.scripted = scripted
        self.oracle = None
        if scripted:
            from test_selfplay_helpers import Oracle

            self.oracle = Oracle()
        self.updates = 0

    def _cut_stop(self, ids: list[int], stops: list[str]) -> list[int]:
        for k in range(1, len(ids) + 1):
            if any(s in self.tokenizer.decode(ids[:k]) for s in stops):
                return ids[:k]
        return ids

    async def generate(
        self, prompt_ids: list[int], sampling_params: dict[str, Any], request_id: str, **_: Any
    ) -> TokenOutput:
        max_tokens = int(sampling_params.get("max_tokens", 16))
        seed = int(sampling_params.get("seed", 0))
        stops = list(sampling_params.get("stop") or [])
        if self.oracle is not None:
            self.oracle.n = seed  # a function of (prompt, seed): order of requests is irrelevant
            text = self.oracle(self.tokenizer.decode(prompt_ids), 0)
            ids = self.tokenizer.encode(text, add_special_tokens=False)[:max_tokens]
        else:
            torch.manual_seed(seed)
            temperature = float(sampling_params.get("temperature", 1.0))
            inputs = torch.tensor([prompt_ids])
            with torch.no_grad():
                out = self.model.generate(
                    inputs,
                    attention_mask=torch.ones_like(inputs),
                    do_sample=temperature > 0,
                    temperature=max(temperature, 1e-5),
                    top_p=float(sampling_params.get("top_p", 1.0)),
                    top_k=0,
                    max_new_tokens=max_tokens,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            ids = out[0, len(prompt_ids) :].tolist()
            ids = self._cut_stop(ids, stops) if stops else ids
        return TokenOutput(token_ids=ids, log_probs=None, stop_reason="completed")

    def load_weights(self, state: dict[str, torch.Tensor]) -> int:
        """Load the actor's weights; returns how many tensors matched."""
        own = self.model.state_dict()
        matched = {k: v for k, v in state.items() if k in own}
        self.model.load_state_dict(matched, strict=False)
        self.updates += 1
        return len(matched)

    def stats(self) -> dict[str, int]:
        return {"updates": self.updates}

    async def wake_up(self) -> None: ...
    async def sleep(self) -> None: ...
    async def abort_all_requests(self, reject_request: bool = False) -> None: ...
    async def resume_generation(self) -> None: ...
    async def clear_kv_cache(self) -> None: ...
    async def release_kv_cache(self) -> None: ...
    async def resume_kv_cache(self) -> None: ...
    async def start_profile(self, **kwargs: Any) -> None: ...
    async def stop_profile(self) -> None: ...


class HFReplica(RolloutReplica):
    """One HF server per replica."""

    async def launch_servers(self) -> None:
        name = SERVER_PREFIX + str(self.replica_rank)
        path = getattr(self.model_config, "local_path", None) or self.model_config.path
        scripted = os.environ.get("AZR_TEST_SCRIPTED") == "1"
        handle = (
            ray.remote(HFServer)
            .options(name=name, get_if_exists=True, num_cpus=0)
            .remote(str(path), scripted)
        )
        self.servers = [handle]
        self._server_handle = handle
        self._server_address = name


class HFServerAdapter(rollout_base.BaseRollout):
    """In the actor worker: forwards new weights to this replica's HF server."""

    def __init__(self, config: Any, model_config: Any, device_mesh: Any, *a: Any, **k: Any):
        super().__init__(config, model_config, device_mesh)
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        world = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // world
        self.leader = rank % world == 0

    async def resume(self, tags: list[str]) -> None: ...

    async def release(self) -> None: ...

    async def update_weights(self, weights: Any, **kwargs: Any) -> None:
        state = {}
        for name, tensor in weights:
            if hasattr(tensor, "full_tensor"):
                tensor = tensor.full_tensor()
            state[name] = tensor.detach().to("cpu", copy=True)
        if self.leader:
            server = ray.get_actor(SERVER_PREFIX + str(self.replica_rank))
            matched = await server.load_weights.remote(state)
            assert matched > 0, f"no weight matched the HF server's model ({list(state)[:3]})"


RolloutReplicaRegistry.register("hf", lambda: HFReplica)
rollout_base._ROLLOUT_REGISTRY[("hf", "async")] = f"{__name__}.HFServerAdapter"
