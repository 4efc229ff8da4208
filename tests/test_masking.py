"""Tests for kd_teach.distilbert.masking: DistilBERT's dynamic masking (15% chosen; 80% [MASK], 10% kept,
10% random; rare tokens weighted max(count, 1) ** -0.7; special and padding tokens never chosen).

Statistical checks allow 5 binomial standard deviations (a correct implementation fails each
with probability ~6e-7); every draw is seeded, so the outcome is deterministic anyway.
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kd_teach.distilbert.masking import (DynamicMasker, IGNORE_INDEX, MaskingConfig, mask_tokens, token_counts,
                                         token_probs)
from kd_teach.engine.data import data_dir, load_sst2
from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.models import load_tokenizer

DRAWS = 200


def exact_ceil(p: float, n: int) -> int:
    """ceil(p * n) in exact arithmetic (float 0.07 * 100 is 7.000000000000001)."""
    return math.ceil(Fraction(str(p)) * n)


def within(observed: int, total: int, p: float, sigmas: float = 5.0) -> bool:
    """Is observed/total within ``sigmas`` binomial standard deviations of p?"""
    return abs(observed / total - p) <= sigmas * math.sqrt(p * (1 - p) / total)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="module")
def batch(tok):
    """64 real lines of text as (64, 64) ids + attention mask, with [CLS], [SEP] and padding."""
    path = data_dir() / "corpus" / "wikitext" / "wiki.valid.txt" if data_dir() else None
    if path is not None and path.is_file():
        lines = [line.strip() for line in path.open(encoding="utf-8") if line.strip()][:64]
    else:
        try:
            lines = list(load_sst2()["validation"]["sentence"][:64])
        except OfflineAssetError as err:  # no local data and no hub
            pytest.skip(f"no real text: export KD_TEACH_DATA_DIR=/work/shared/data ({err})")
    enc = tok(lines, padding=True, truncation=True, max_length=64, return_tensors="pt")
    assert (enc["attention_mask"] == 0).any(), "the batch should contain padding"
    return enc["input_ids"], enc["attention_mask"]


@pytest.fixture(scope="module")
def draws(tok, batch):
    """DRAWS masked versions of the real batch: (DRAWS, B, L) masked ids and labels."""
    ids, am = batch
    probs = token_probs(token_counts(ids[am == 1], len(tok)), tok.all_special_ids)
    gen = torch.Generator().manual_seed(0)
    out = [mask_tokens(ids, am, probs, tok.mask_token_id, tok.all_special_ids, generator=gen)
           for _ in range(DRAWS)]
    return torch.stack([m for m, _ in out]), torch.stack([lab for _, lab in out])


# --------------------------------------------------------------------------- proportions


def test_share_chosen_is_exactly_ceil_15_percent_of_candidates(tok, batch, draws):
    ids, am = batch
    n_cand = int(((am == 1) & ~torch.isin(ids, torch.tensor(tok.all_special_ids))).sum())
    chosen_per_draw = (draws[1] != IGNORE_INDEX).sum(dim=(1, 2))          # (DRAWS,)
    assert (chosen_per_draw == exact_ceil(0.15, n_cand)).all()


def test_chosen_tokens_are_80_percent_mask_10_kept_10_random(tok, batch, draws):
    masked, labels = draws
    chosen = labels != IGNORE_INDEX
    n = int(chosen.sum())
    is_mask = chosen & (masked == tok.mask_token_id)
    is_kept = chosen & (masked == labels)       # includes random == original (p ~ 1/30k, negligible)
    is_rand = chosen & ~is_mask & ~is_kept
    for name, count, p in (("mask", is_mask, 0.8), ("kept", is_kept, 0.1), ("random", is_rand, 0.1)):
        assert within(int(count.sum()), n, p), f"{name}: {int(count.sum())} of {n}, expected share {p}"
    random_ids = masked[is_rand]
    assert not torch.isin(random_ids, torch.tensor(tok.all_special_ids)).any()
    assert random_ids.unique().numel() > 0.8 * random_ids.numel()  # spread over the vocabulary


def test_special_and_padding_positions_are_never_touched(tok, batch, draws):
    ids, am = batch
    protected = (am == 0) | torch.isin(ids, torch.tensor(tok.all_special_ids))  # (B, L)
    masked, labels = draws
    assert protected.any() and (labels[:, protected] == IGNORE_INDEX).all()
    assert (masked[:, protected] == ids[protected]).all()
    assert (masked[:, ~protected] != ids[~protected]).any()                # something else changed


def test_special_ids_are_filtered_even_when_their_weight_is_positive(tok, batch):
    ids, am = batch
    everything = torch.ones(len(tok))                                       # specials get weight 1 too
    masked, labels = mask_tokens(ids, am, everything, tok.mask_token_id, tok.all_special_ids,
                                 MaskingConfig(mask_prob=1.0), torch.Generator().manual_seed(1))
    candidates = (am == 1) & ~torch.isin(ids, torch.tensor(tok.all_special_ids))
    assert torch.equal(labels != IGNORE_INDEX, candidates)                 # mask_prob=1: all of them


# --------------------------------------------------------------------------- rare tokens


@pytest.mark.parametrize("smoothing", [0.7, 0.0])
def test_rare_tokens_are_chosen_in_proportion_to_their_weight(smoothing):
    """Token A (count 1) and B (count 1000): per occurrence A is picked 1000**smoothing times as often.

    One pick per call (ceil(0.001 * 504) = 1), so sampling without replacement plays no part:
    each call is one exact draw with P(A) = nA * wA / (nA * wA + nB * wB).
    """
    A, B, specials, calls = 3, 4, [0, 1, 2], 20_000
    probs = token_probs(torch.tensor([0, 0, 0, 1, 1000, 0]), specials, smoothing)
    nA, nB = 4, 500                                                         # total weights ~equal at 0.7
    gen = torch.Generator().manual_seed(2)
    ids = torch.tensor([A] * nA + [B] * nB)[torch.randperm(nA + nB, generator=gen)][None]  # (1, 504)
    config = MaskingConfig(mask_prob=0.001)
    picked_A = 0
    for _ in range(calls):
        _, labels = mask_tokens(ids, torch.ones_like(ids), probs, 2, specials, config, gen)
        assert int((labels != IGNORE_INDEX).sum()) == 1
        picked_A += int((labels == A).sum())
    weight_ratio = 1000**smoothing                                          # ~125.9 or 1
    p_A = nA * weight_ratio / (nA * weight_ratio + nB)                      # expected share of A
    rate_ratio = (picked_A / nA) / ((calls - picked_A) / nB)
    assert within(picked_A, calls, p_A), f"rate ratio {rate_ratio:.1f}, weight ratio {weight_ratio:.1f}"


def test_token_probs_follow_the_formula_and_zero_special_ids():
    counts = torch.tensor([5, 0, 1, 1000, 7])
    expected = torch.tensor([0.0, 1.0, 1.0, 1000**-0.7, 7**-0.7])
    torch.testing.assert_close(token_probs(counts, [0]), expected)
    torch.testing.assert_close(token_probs(counts, [0], smoothing=0.0), torch.tensor([0.0, 1, 1, 1, 1]))


def test_token_counts_accepts_lists_and_tensors():
    rows = [[1, 2, 2], [4], []]
    expected = torch.tensor([0, 1, 2, 0, 1, 0])
    assert torch.equal(token_counts(rows, 6), expected)
    assert torch.equal(token_counts(torch.tensor([1, 2, 2, 4]), 6), expected)
    assert torch.equal(token_counts(torch.tensor([[1, 2], [2, 4]]), 6), expected)


def test_zero_weight_candidates_are_never_chosen_and_cap_n_target():
    ids = torch.tensor([[3] * 19 + [4]])                     # 20 candidates: ceil(0.15 * 20) = 3
    probs = torch.tensor([0.0, 0, 0, 0, 1])                  # but only token 4 has a weight
    _, labels = mask_tokens(ids, torch.ones_like(ids), probs, 2, [0, 1, 2])
    assert (labels != IGNORE_INDEX).nonzero().tolist() == [[0, 19]]


def test_n_target_is_the_exact_ceil_despite_float_rounding():
    ids = torch.full((1, 100), 3)                            # float 0.07 * 100 = 7.000000000000001
    _, labels = mask_tokens(ids, torch.ones_like(ids), torch.ones(4), 2, [0, 1, 2],
                            MaskingConfig(mask_prob=0.07))
    assert int((labels != IGNORE_INDEX).sum()) == 7


# --------------------------------------------------------------------------- dynamic, pure


def test_new_masks_every_call_and_same_masks_for_the_same_seed(tok, batch):
    ids, am = batch
    probs = token_probs(torch.zeros(len(tok)), tok.all_special_ids)
    before = [ids.clone(), am.clone(), probs.clone()]
    args = (ids, am, probs, tok.mask_token_id, tok.all_special_ids)
    torch.manual_seed(0)
    assert not torch.equal(mask_tokens(*args)[1], mask_tokens(*args)[1])  # global RNG advances
    runs = [mask_tokens(*args, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert all(torch.equal(x, y) for x, y in zip(before, [ids, am, probs]))  # inputs untouched


def test_dynamic_masker_from_tokenizer_matches_mask_tokens(tok, batch):
    ids, am = batch
    counts = token_counts(ids[am == 1], len(tok))
    masker = DynamicMasker.from_tokenizer(tok, counts)
    assert masker.mask_token_id == tok.mask_token_id
    assert set(masker.special_ids) == set(tok.all_special_ids)
    got = masker(ids, am, torch.Generator().manual_seed(3))
    want = mask_tokens(ids, am, token_probs(counts, tok.all_special_ids), tok.mask_token_id,
                       tok.all_special_ids, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(got, want))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, match", [
    ({"mask_prob": 0.0}, r"mask_prob must be in \(0, 1\], got 0.0"),
    ({"mask_prob": 1.5}, r"mask_prob must be a probability in \[0, 1\], got 1.5"),
    ({"word_keep": -0.1}, r"word_keep .* got -0.1"),
    ({"word_rand": float("nan")}, r"word_rand .* got nan"),
    ({"word_mask": 0.7}, r"word_mask \+ word_keep \+ word_rand must sum to 1"),
])
def test_config_validation_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MaskingConfig(**kwargs)


def test_argument_errors_name_the_argument():
    ids, am, probs = torch.tensor([[1, 3, 4]]), torch.ones(1, 3), torch.ones(5)
    cases = [
        (lambda: mask_tokens(ids[0], am[0], probs, 2, [0]), r"input_ids .* 2-D"),
        (lambda: mask_tokens(ids, am[:, :2], probs, 2, [0]), r"attention_mask \(1, 2\)"),
        (lambda: mask_tokens(ids, am, probs[None], 2, [0]), r"token_probs must be 1-D"),
        (lambda: mask_tokens(ids, am, probs[:4], 2, [0]), r"len\(token_probs\)=4"),
        (lambda: mask_tokens(ids, am, -probs, 2, [0]), r"token_probs must be finite and >= 0"),
        (lambda: mask_tokens(ids, am, probs, 9, [0]), r"mask_token_id .* got 9"),
        (lambda: mask_tokens(ids, am, probs, 2, [7]), r"special_ids .* got \[7\]"),
        (lambda: token_probs(probs, [0], smoothing=-1.0), r"smoothing .* got -1.0"),
        (lambda: token_probs(probs, [0], smoothing=float("inf")), r"smoothing .* got inf"),
        (lambda: token_probs(probs[None], [0]), r"counts must be 1-D"),
        (lambda: token_counts([[0, 5]], 5), r"input_ids must lie in \[0, vocab_size=5\)"),
        (lambda: token_counts([[0]], 0), r"vocab_size must be >= 1, got 0"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()


# --------------------------------------------------------------------------- property


@st.composite
def masking_problems(draw):
    B, L = draw(st.integers(1, 4)), draw(st.integers(1, 16))
    ids = torch.tensor(draw(st.lists(st.integers(0, 11), min_size=B * L, max_size=B * L))).view(B, L)
    am = torch.tensor(draw(st.lists(st.integers(0, 1), min_size=B * L, max_size=B * L))).view(B, L)
    counts = torch.tensor(draw(st.lists(st.integers(0, 10_000), min_size=12, max_size=12)))
    return ids, am, counts, draw(st.sampled_from([0.15, 0.28, 0.56, 1.0])), draw(st.integers(0, 2**31))


@settings(max_examples=200, deadline=None)
@given(masking_problems())
def test_property_chosen_positions_are_exactly_ceil_of_the_candidates(problem):
    ids, am, counts, mask_prob, seed = problem
    specials, mask_id = [0, 1, 2], 2
    masked, labels = mask_tokens(ids, am, token_probs(counts, specials), mask_id, specials,
                                 MaskingConfig(mask_prob=mask_prob), torch.Generator().manual_seed(seed))
    candidates = (am == 1) & ~torch.isin(ids, torch.tensor(specials))
    chosen = labels != IGNORE_INDEX
    assert int(chosen.sum()) == exact_ceil(mask_prob, int(candidates.sum()))
    assert not (chosen & ~candidates).any()
    assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(masked[~chosen], ids[~chosen])
    assert not torch.isin(masked[chosen], torch.tensor([0, 1])).any()     # only [MASK] of the specials


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inputs_with_a_cpu_generator_give_the_cpu_result():
    ids, specials = torch.randint(3, 50, (8, 32)), [0, 1, 2]
    args = (torch.ones_like(ids), torch.ones(50), 2, specials, MaskingConfig())
    cpu = mask_tokens(ids, *args, generator=torch.Generator().manual_seed(5))
    gpu = mask_tokens(ids.cuda(), *[a.cuda() if torch.is_tensor(a) else a for a in args],
                      generator=torch.Generator().manual_seed(5))
    assert gpu[0].is_cuda and all(torch.equal(c, g.cpu()) for c, g in zip(cpu, gpu))
