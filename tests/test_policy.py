"""HFPolicy on the tiny random model: generation, the clipped update, checkpoints."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from azr.policy.base import Completion, SamplingParams, UpdateBatch, UpdateSample  # noqa: E402
from azr.policy.hf import HFPolicy, HFPolicyConfig, create_policy  # noqa: E402
from azr.policy.losses import clipped_surrogate, k3_kl, token_mean  # noqa: E402

PROMPTS = ["Predict the output of f(3) where f doubles x.", "Hi"]


# AZR_TEST_DEVICE=cuda runs these tests on a GPU (fp32, no autocast, so hand values hold).
DEVICE = os.environ.get("AZR_TEST_DEVICE", "cpu")


def tiny(name: str = "tiny-random", **overrides: object) -> HFPolicy:
    """A fresh tiny policy; fp32, no entropy bonus unless asked (keeps arithmetic exact)."""
    cfg: dict[str, object] = dict(lr=1e-3, entropy_coef=0.0, seed=0, amp=False)
    cfg.update(overrides)
    return create_policy(name, device=DEVICE, **cfg)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def policy() -> HFPolicy:
    return tiny()


def test_generate_shapes_logprobs_and_seed(policy: HFPolicy) -> None:
    sp = SamplingParams(max_new_tokens=12, seed=7)
    out = policy.generate(PROMPTS, n=3, sampling=sp)
    assert [len(row) for row in out] == [3, 3]
    for prompt, row in zip(PROMPTS, out, strict=True):
        for c in row:
            assert c.prompt == prompt
            assert c.prompt_token_ids == policy.encode(prompt)
            assert len(c.token_ids) == len(c.logprobs) == 12
            assert c.finish_reason == "length"
            assert all(lp <= 0 for lp in c.logprobs)
    # Different samples of the same prompt differ; the same seed reproduces everything.
    assert out[0][0].token_ids != out[0][1].token_ids
    again = policy.generate(PROMPTS, n=3, sampling=sp)
    assert [[c.token_ids for c in r] for r in again] == [[c.token_ids for c in r] for r in out]


def test_recorded_logprobs_match_a_fresh_forward(policy: HFPolicy) -> None:
    # Prompts of different length share a left-padded batch: positions must still be right.
    out = policy.generate(PROMPTS, n=2, sampling=SamplingParams(max_new_tokens=10, seed=1))
    for row in out:
        for c in row:
            assert policy.token_logprobs(c) == pytest.approx(c.logprobs, abs=1e-4)


def test_greedy_matches_model_generate(policy: HFPolicy) -> None:
    sp = SamplingParams(temperature=0.0, max_new_tokens=8, stop=())
    ours = [row[0].token_ids for row in policy.generate(PROMPTS, 1, sp)]
    enc = policy.tokenizer(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    enc = enc.to(policy.device)
    ref = policy.model.generate(
        **enc, do_sample=False, max_new_tokens=8, min_new_tokens=8, pad_token_id=policy.pad_id
    )
    width = enc["input_ids"].shape[1]
    assert ours == ref[:, width:].tolist()


def test_stop_string_cuts_text_and_tokens(policy: HFPolicy) -> None:
    free = policy.generate(PROMPTS[:1], 1, SamplingParams(temperature=0.0, max_new_tokens=12))[0][0]
    # Pick the text of the 6th generated token as the stop string: generation must stop there.
    piece = policy.tokenizer.decode(free.token_ids[5:6])
    assert piece.strip(), "tiny model produced an empty piece; pick another position"
    sp = SamplingParams(temperature=0.0, max_new_tokens=12, stop=(piece,))
    cut = policy.generate(PROMPTS[:1], 1, sp)[0][0]
    assert cut.finish_reason == "stop"
    assert cut.text.endswith(piece)
    assert free.text.startswith(cut.text)
    assert cut.token_ids == free.token_ids[: len(cut.token_ids)]
    assert len(cut.token_ids) <= 6 and len(cut.logprobs) == len(cut.token_ids)


def test_clipped_surrogate_hand_computed() -> None:
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1], [0.7, 1.0, 1.0]]))
    old = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    loss, clipped = clipped_surrogate(logp, old, adv, 0.2, 0.2)
    # ratios 1.5 .5 1.1 / .7 1 : A>0 -> -min(r, clip(r)); A<0 -> max(r, clip(r))
    expected = [-1.2, -0.5, -1.1, 0.8, 1.0, 0.0]
    assert loss.flatten().tolist() == pytest.approx(expected)
    assert clipped.tolist() == [[True, False, False], [True, False, False]]
    assert float(token_mean(loss, mask)) == pytest.approx((-1.2 - 0.5 - 1.1 + 0.8 + 1.0) / 5)
    # Dual clip bounds the loss of a negative advantage with an exploded ratio.
    big, _ = clipped_surrogate(
        torch.log(torch.tensor([10.0])), torch.zeros(1), -torch.ones(1), clip_c=3.0
    )
    assert big.tolist() == pytest.approx([3.0])
    assert k3_kl(torch.zeros(1), torch.zeros(1)).tolist() == [0.0]


def test_update_loss_equals_hand_computed_value() -> None:
    pol = tiny(lr=0.0)  # lr 0: the metrics describe the batch, the weights stay put
    a, b = (c[0] for c in pol.generate(PROMPTS, 1, SamplingParams(max_new_tokens=3, seed=3)))
    b.token_ids, b.logprobs = b.token_ids[:1], b.logprobs[:1]
    # Pretend the samples came from a policy that gave every token 1/1.5 of today's probability.
    for c in (a, b):
        c.logprobs = [lp - math.log(1.5) for lp in pol.token_logprobs(c)]
    m = pol.update(UpdateBatch([UpdateSample(a, 1.0), UpdateSample(b, -1.0)]))
    # ratio 1.5 everywhere: A=+1 tokens clip to -1.2 (3 tokens); A=-1 token gives +1.5 (1 token).
    assert m["pg_loss"] == pytest.approx((3 * -1.2 + 1.5) / 4, abs=1e-5)
    assert m["loss"] == pytest.approx(m["pg_loss"], abs=1e-5)
    assert m["clip_frac"] == pytest.approx(0.75)
    assert m["tokens"] == 4 and m["samples"] == 2
    assert m["approx_kl"] == pytest.approx(1.5 - 1 - math.log(1.5), abs=1e-5)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_advantage_sign_moves_logprob(sign: float) -> None:
    pol = tiny(lr=3e-3, micro_batch_size=1)
    c = pol.generate(PROMPTS[:1], 1, SamplingParams(max_new_tokens=8, seed=5))[0][0]
    other = pol.generate(PROMPTS[1:], 1, SamplingParams(max_new_tokens=5, seed=6))[0][0]
    before = pol.sequence_logprob(c)
    for _ in range(4):
        # Fresh behaviour log-probs each step, as in on-policy training; a zero-advantage
        # sample rides along in its own micro-batch and must not change the direction.
        c.logprobs = pol.token_logprobs(c)
        m = pol.update(UpdateBatch([UpdateSample(c, sign), UpdateSample(other, 0.0)]))
        assert math.isfinite(m["loss"]) and m["grad_norm"] > 0
    after = pol.sequence_logprob(c)
    assert (after - before) * sign > 0.5


def test_entropy_kl_and_checkpointing_paths_run() -> None:
    pol = tiny(entropy_coef=0.01, kl_coef=0.1, gradient_checkpointing=True)
    c = pol.generate(PROMPTS[:1], 1, SamplingParams(max_new_tokens=6, seed=2))[0][0]
    m1 = pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    m2 = pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    assert m1["kl"] == pytest.approx(0.0, abs=1e-6)  # first step: policy == reference
    assert m2["kl"] > 0 and m2["entropy"] > 0 and m2["grad_norm"] > 0
    empty = pol.update(UpdateBatch([]))
    assert empty["tokens"] == 0


def test_lora_trains_adapters_only(tmp_path: Path) -> None:
    torch.manual_seed(0)  # LoRA's initialisation draws from the global RNG: not test-order
    pol = tiny(lora_rank=4, lr=1e-2)
    base_before = {k: v.clone() for k, v in pol.model.named_parameters() if "lora_" not in k}
    c = pol.generate(PROMPTS[:1], 1, SamplingParams(max_new_tokens=6, seed=2))[0][0]
    before = pol.sequence_logprob(c)
    for _ in range(3):
        pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    assert pol.sequence_logprob(c) > before
    for k, v in pol.model.named_parameters():
        if "lora_" not in k:
            assert torch.equal(v, base_before[k]), k
    pol.save(tmp_path / "ck")
    fresh = tiny(lora_rank=4)
    fresh.load(tmp_path / "ck")
    assert fresh.sequence_logprob(c) == pytest.approx(pol.sequence_logprob(c), abs=1e-4)


def test_save_load_generate_reproduces_tokens(tmp_path: Path) -> None:
    pol = tiny()
    c = pol.generate(PROMPTS[:1], 1, SamplingParams(max_new_tokens=6, seed=2))[0][0]
    pol.update(UpdateBatch([UpdateSample(c, 1.0)]))  # weights and AdamW state now non-trivial
    pol.save(tmp_path / "ck")
    sp_seeded = SamplingParams(max_new_tokens=10, seed=11)
    sp_free = SamplingParams(max_new_tokens=10)  # uses the policy's own saved generator
    want = [pol.generate(PROMPTS, 2, sp) for sp in (sp_seeded, sp_free)]
    want_update = pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    other = tiny("random:tiny@1")  # different initial weights
    other.load(tmp_path / "ck")
    got = [other.generate(PROMPTS, 2, sp) for sp in (sp_seeded, sp_free)]
    tok = [[[[c.token_ids for c in row] for row in gen] for gen in g] for g in (want, got)]
    assert tok[0] == tok[1]
    assert other.steps == 1
    # The optimiser state came back too: the next update is the same step.
    got_update = other.update(UpdateBatch([UpdateSample(c, 1.0)]))
    assert got_update["loss"] == pytest.approx(want_update["loss"], abs=1e-6)
    assert got_update["grad_norm"] == pytest.approx(want_update["grad_norm"], rel=1e-4)
    ref = dict(pol.model.named_parameters())
    for k, v in other.model.named_parameters():
        assert torch.allclose(v, ref[k], atol=1e-6), k


def test_hf_policy_is_a_generator_and_a_learner(policy: HFPolicy) -> None:
    from azr.policy.base import Generator, Learner

    assert isinstance(policy, Generator) and isinstance(policy, Learner)
    policy.sync_from(policy)  # samples from what it trains: nothing to load


def test_format_prompt_uses_chat_template(policy: HFPolicy) -> None:
    text = policy.format_prompt("What is 2+2?")
    assert "What is 2+2?" in text and text.endswith("<|im_start|>assistant\n")
    assert policy.encode(text)[0] == policy.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert policy.encode(text).count(policy.tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3


def test_completion_without_recorded_logprobs_is_on_policy() -> None:
    pol = tiny(lr=0.0)
    c = pol.generate(PROMPTS[:1], 1, SamplingParams(max_new_tokens=4, seed=4))[0][0]
    bare = Completion(
        prompt=c.prompt, text=c.text, prompt_token_ids=c.prompt_token_ids, token_ids=c.token_ids
    )
    m = pol.update(UpdateBatch([UpdateSample(bare, 2.0)]))
    assert m["pg_loss"] == pytest.approx(-2.0, abs=1e-5) and m["clip_frac"] == 0.0
    assert isinstance(HFPolicyConfig().lr, float)


# --------------------------------------------------------------------------- cheaper CPU steps


def _target_logprobs(pol: HFPolicy, t: dict[str, object]) -> object:
    logits = pol._logits(pol.model, t)  # type: ignore[arg-type]
    return logits.log_softmax(-1).gather(-1, t["targets"][..., None]).squeeze(-1)  # type: ignore[index]


def test_prompt_without_grad_reads_the_same_logprobs(policy: HFPolicy) -> None:
    comps = [row[0] for row in policy.generate(PROMPTS, sampling=SamplingParams(12, seed=3))]
    comps[1] = Completion(
        comps[1].prompt,
        "",
        comps[1].prompt_token_ids,
        comps[1].token_ids[:5],
        comps[1].logprobs[:5],
    )
    samples = [UpdateSample(c, 1.0) for c in comps]
    split = _target_logprobs(policy, policy._split_tensors(samples))
    for r, c in enumerate(comps):  # completions are left-aligned in the split layout
        n = len(c.token_ids)
        assert split[r, :n].tolist() == pytest.approx(c.logprobs, abs=1e-4)  # type: ignore[index]


def test_shared_prompt_prefix_is_read_once_with_the_same_logprobs(policy: HFPolicy) -> None:
    # Two prompts sharing a long prefix, one of them sampled twice: in one micro-batch the
    # common prefix is read once and each row's rest after it.
    prompts = [PROMPTS[0], PROMPTS[0].replace("f(3)", "f(12)"), PROMPTS[0]]
    rows = policy.generate(prompts[:2], n=2, sampling=SamplingParams(9, seed=4))
    comps = [rows[0][0], rows[1][0], rows[0][1]]
    samples = [UpdateSample(c, 1.0) for c in comps]
    t = policy._split_tensors(samples)
    heads = [c.prompt_token_ids[:-1] for c in comps]
    common = t["pre_ids"].shape[1]
    assert 0 < common < min(len(h) for h in heads)
    assert all(h[:common] == heads[0][:common] for h in heads)
    split = _target_logprobs(policy, t)
    for r, c in enumerate(comps):
        n = len(c.token_ids)
        assert split[r, :n].tolist() == pytest.approx(c.logprobs, abs=1e-4)  # type: ignore[index]
    # Identical prompts only: everything but the last prompt token is the shared prefix.
    same = policy._split_tensors([samples[0], samples[2]])
    assert same["pre_ids"].shape[1] == len(heads[0]) and same["r_ids"].shape[1] == 0
    got = _target_logprobs(policy, same)
    for r, c in enumerate((comps[0], comps[2])):
        n = len(c.token_ids)
        assert got[r, :n].tolist() == pytest.approx(c.logprobs, abs=1e-4)  # type: ignore[index]


def test_micro_batches_by_prompt_keep_identical_prompts_together() -> None:
    pol = tiny(micro_batch_size=2)
    a, b = PROMPTS[0], PROMPTS[1]
    comps = [
        Completion(p, "", pol.encode(p), [1] * k, []) for p, k in ((a, 1), (b, 9), (a, 9), (b, 1))
    ]
    mbs = list(pol._micro_batches([UpdateSample(c, 1.0) for c in comps], by_prompt=True))
    assert [{s.completion.prompt for s in mb} for mb in mbs] in ([{a}, {b}], [{b}, {a}])


def test_update_without_prompt_grad_moves_logprob_and_skips_prompt_gradient() -> None:
    pol = tiny(prompt_grad=False, lr=1e-2)
    (c,) = pol.generate([PROMPTS[0]], sampling=SamplingParams(8, seed=5))[0:1][0]
    before = pol.sequence_logprob(c)
    pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    assert pol.sequence_logprob(c) > before
    # The prompt is embedded without autograd; the completion columns with it.
    seen: list[tuple[int, bool]] = []
    hook = pol.model.get_input_embeddings().register_forward_hook(
        lambda _m, _i, out: seen.append((int(out.shape[1]), bool(out.requires_grad)))
    )
    try:
        pol._logits(pol.model, pol._split_tensors([UpdateSample(c, 1.0)]))
    finally:
        hook.remove()
    assert seen == [(len(c.prompt_token_ids) - 1, False), (len(c.token_ids), True)]


def test_generation_copy_follows_the_trained_lora_weights() -> None:
    pol = tiny(lora_rank=4, lora_alpha=8, gen_dtype="float32", lr=5e-2)
    sp = SamplingParams(10, seed=2)
    (c,) = pol.generate([PROMPTS[0]], sampling=sp)[0]
    for _ in range(2):
        pol.update(UpdateBatch([UpdateSample(c, 1.0)]))
    (c2,) = pol.generate([PROMPTS[0]], sampling=sp)[0]
    # The copy is refreshed after the updates: its recorded log-probs are the trained model's.
    assert pol.token_logprobs(c2) == pytest.approx(c2.logprobs, abs=1e-4)
    assert pol.token_logprobs(c) != pytest.approx(c.logprobs, abs=1e-4)  # the weights moved


def test_identical_prompts_are_prefilled_once_with_the_same_result(policy: HFPolicy) -> None:
    from azr.policy import generation

    calls: list[int] = []
    real = policy.model.forward

    def counting(*args: object, **kwargs: object) -> object:
        ids = kwargs.get("input_ids")
        calls.append(int(ids.shape[0]) if ids is not None and ids.shape[1] > 1 else 0)  # type: ignore[union-attr]
        return real(*args, **kwargs)

    prompt = policy.encode(PROMPTS[0])
    greedy = dict(max_new_tokens=6, temperature=0.0, eos_ids=[], pad_id=policy.pad_id)
    one = generation.sample_batch(policy.model, [prompt], **greedy)  # type: ignore[arg-type]
    policy.model.forward = counting  # type: ignore[method-assign]
    try:
        three = generation.sample_batch(policy.model, [prompt] * 3, **greedy)  # type: ignore[arg-type]
    finally:
        del policy.model.forward
    assert calls[0] == 1  # one prefill row for three identical prompts
    for res in three:
        assert res.token_ids == one[0].token_ids
        assert res.logprobs == pytest.approx(one[0].logprobs, abs=1e-5)


@pytest.mark.parametrize("prompt_grad", [True, False])
def test_update_reports_what_it_read_and_its_matmul_work(prompt_grad: bool) -> None:
    pol = tiny(prompt_grad=prompt_grad, micro_batch_size=2)
    prompts = [PROMPTS[0], "Predict the input of f where f adds one and returns 5."]
    rows = pol.generate(prompts, n=2, sampling=SamplingParams(6, seed=1))
    comps = [c for row in rows for c in row if c.token_ids][:2]
    assert len(comps) == 2
    m = pol.update(UpdateBatch([UpdateSample(c, 1.0) for c in comps]))
    own = sum(len(c.prompt_token_ids) + len(c.token_ids) for c in comps)
    assert m["sequence_tokens"] == own
    done = sum(len(c.token_ids) for c in comps)
    if prompt_grad:  # one padded micro-batch of both whole sequences, all with gradient
        width = max(len(c.prompt_token_ids) + len(c.token_ids) for c in comps)
        assert (m["read_nograd"], m["read_grad"]) == (0, 2 * width)
    else:  # the prompts (but their last token) without gradient, then the completion columns
        heads = [len(c.prompt_token_ids) - 1 for c in comps]
        assert m["read_nograd"] >= max(heads) and m["read_nograd"] <= sum(heads) + max(heads)
        assert m["read_grad"] == 2 * max(len(c.token_ids) for c in comps)
    assert m["read_reference"] == 0  # no KL term, no reference model
    base = pol.base_model()
    emb = base.get_input_embeddings().weight.numel()
    weights = sum(p.numel() for p in base.parameters())
    tied = base.config.tie_word_embeddings
    body = weights - emb - (0 if tied else emb)
    expected = (2 * body * m["read_nograd"] + 6 * body * m["read_grad"] + 6 * emb * done) / 1e9
    assert m["gflop"] == pytest.approx(expected)
    assert m["gflop_per_s"] == pytest.approx(m["gflop"] / m["time_s"])


@pytest.mark.skipif(DEVICE != "cpu", reason="bf16 autocast on CPU")
def test_lora_under_autocast_keeps_frozen_layers_in_bf16_with_the_same_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azr.policy.hf as hf

    def build() -> HFPolicy:
        torch.manual_seed(0)  # the same LoRA initialisation in both
        return tiny(lora_rank=4, lr=1e-2, amp_cpu=True, prompt_grad=False, kl_coef=0.1)

    pol = build()
    wrapped = [m.base_layer for m in pol.model.modules() if hasattr(m, "base_layer")]
    assert wrapped and all(m.weight.dtype == torch.bfloat16 for m in wrapped)
    assert all(p.dtype == torch.float32 for p in pol.params)  # the adapters train in fp32
    assert pol.params_dtype == torch.float32 and pol.uses_autocast
    merged = dict(pol.merged_weights())
    assert all(t.dtype == torch.float32 for t in merged.values())
    with monkeypatch.context() as m:  # the same policy, its frozen layers left in fp32
        m.setattr(hf, "_frozen_layers_to_bf16", lambda model: 0)
        kept = build()
    assert all(
        x.base_layer.weight.dtype == torch.float32
        for x in kept.model.modules()
        if hasattr(x, "base_layer")
    )
    prompts = [PROMPTS[0], "Predict the input of f where f adds one and returns 5."]
    rows = pol.generate(prompts, n=2, sampling=SamplingParams(8, seed=1))
    batch = UpdateBatch([UpdateSample(c, (-1.0) ** i) for i, c in enumerate(sum(rows, []))])
    for _ in range(2):  # the second update runs the LoRA path with non-zero deltas and a KL
        got, want = pol.update(batch), kept.update(batch)
        for key in ("loss", "pg_loss", "kl", "entropy", "grad_norm"):
            assert got[key] == want[key], key
    assert got["kl"] > 0
    for (name, a), (_, b) in zip(
        pol.model.named_parameters(), kept.model.named_parameters(), strict=True
    ):
        if a.requires_grad:
            assert torch.equal(a, b), name


def test_update_counts_the_reference_models_reads_in_its_work() -> None:
    pol = tiny(prompt_grad=False, micro_batch_size=2, kl_coef=0.1)
    rows = pol.generate([PROMPTS[0]], n=2, sampling=SamplingParams(6, seed=1))
    comps = [c for c in rows[0] if c.token_ids]
    m = pol.update(UpdateBatch([UpdateSample(c, 1.0) for c in comps]))
    # The reference reads every position the policy reads, prompt and completion columns.
    assert m["read_reference"] == m["read_nograd"] + m["read_grad"] > 0
    base = pol.base_model()
    emb = base.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in base.parameters()) - emb
    if not base.config.tie_word_embeddings:
        body -= emb
    nograd = m["read_nograd"] + m["read_reference"]
    done = m["grad_tokens"]
    expected = (2 * body * nograd + 6 * body * m["read_grad"] + 8 * emb * done) / 1e9
    assert m["gflop"] == pytest.approx(expected)


def test_update_reports_the_entropy_of_each_group() -> None:
    pol = tiny(prompt_grad=False, micro_batch_size=2)
    rows = pol.generate(PROMPTS, n=2, sampling=SamplingParams(6, seed=1))
    comps = [c for row in rows for c in row if c.token_ids][:3]
    assert len(comps) == 3
    groups = ["proposer", "solver", "proposer"]
    batch = [UpdateSample(c, 1.0, g) for c, g in zip(comps, groups, strict=True)]
    m = pol.update(UpdateBatch(batch))
    assert {k for k in m if k.startswith("entropy_")} == {"entropy_proposer", "entropy_solver"}
    assert m["entropy_proposer"] > 0 and m["entropy_solver"] > 0
    # Per-token means: the groups' entropies, weighted by their tokens, give the whole.
    n = {
        g: sum(len(c.token_ids) for c, h in zip(comps, groups, strict=True) if h == g)
        for g in groups
    }
    whole = m["entropy_proposer"] * n["proposer"] + m["entropy_solver"] * n["solver"]
    assert whole == pytest.approx(m["entropy"] * sum(n.values()), rel=1e-5)
    # Unlabelled samples are in the whole only.
    plain = tiny(prompt_grad=False).update(UpdateBatch([UpdateSample(c, 1.0) for c in comps]))
    assert not any(k.startswith("entropy_") for k in plain)
