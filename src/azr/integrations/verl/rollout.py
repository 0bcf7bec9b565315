"""Generation through veRL's rollout servers for prompts that azr renders itself.

azr's task engine renders every prompt in full (chat template or R1 base wrapper, primed with
`<think>`), so the agent loop `azr_text` tokenizes the text as is (no second chat template)
and passes azr's per-row sampling settings (max tokens, seed, temperature, top-p, the
`</answer>` stop string) to the server: vLLM in production, any registered replica in tests.
The reward is left to azr (a placeholder score keeps veRL's reward loop out of the way).

veRL instantiates agent loops inside its AgentLoopWorker actors from
`actor_rollout_ref.rollout.agent.agent_loop_config_path`; `AGENT_LOOP_CONFIG` is that file.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

AGENT_NAME = "azr_text"
from azr.integrations.verl.rollout_config import AGENT_LOOP_CONFIG  # noqa: E402,F401

STOP = "</answer>"


@register(AGENT_NAME)
class AZRTextAgentLoop(AgentLoopBase):
    """Single turn, prompt given as finished text (`raw_prompt`), azr's sampling per row."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        text = str(kwargs["raw_prompt"])
        prompt_ids = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.encode(text, add_special_tokens=False)
        )
        prompt_ids = self._cap_text_prompt_length(prompt_ids)
        response_length = int(self.rollout_config.response_length)
        params = dict(sampling_params)
        params["max_tokens"] = min(
            int(kwargs.get("azr_max_tokens", response_length)), response_length
        )
        for key in ("temperature", "top_p", "seed"):
            if kwargs.get(f"azr_{key}") is not None:
                params[key] = kwargs[f"azr_{key}"]
        if "seed" in params:
            params["seed"] = int(params["seed"])
        params["stop"] = [STOP]
        params["include_stop_str_in_output"] = True
        out = await self.server_manager.generate(
            request_id=uuid4().hex, prompt_ids=prompt_ids, sampling_params=params
        )
        response_ids = list(out.token_ids)[:response_length]
        logprobs = list(out.log_probs)[:response_length] if out.log_probs else None
        result = AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=[1] * len(response_ids),
            response_logprobs=logprobs,
            num_turns=2,
            metrics={},
            extra_fields=dict(out.extra_fields or {}),
        )
        result.reward_score = 0.0  # azr grades in its own step; veRL's reward loop is skipped
        result.extra_fields.update({"turn_scores": [], "tool_rewards": []})
        return result
