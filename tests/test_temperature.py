"""Tests for kd_teach.temperature: softmax with temperature, soft targets and entropy.

The math under test (Hinton, Vinyals and Dean 2015, Eq. 1): q_i = exp(z_i/T) / sum_j exp(z_j/T).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kd_teach.temperature import (check_temperature, entropy, entropy_at_temperature, log_softmax_with_temperature,
                                  soft_targets, softmax_with_temperature)

SETTINGS = settings(max_examples=50, deadline=None)
TEMPS = [0.05, 0.1, 0.5, 1.0, 2.0, 4.0, 10.0, 100.0]
DTYPES = [torch.float32, torch.float64]
# Worst-case rounding of a sum of at most 8 probabilities: a few ulps per term.
SUM_ATOL = {torch.float32: 1e-5, torch.float64: 1e-12}

temperatures = st.floats(min_value=0.05, max_value=100.0, allow_nan=False)


def logit_arrays(bound: float, dtype=np.float64, max_rows: int = 4, max_classes: int = 8):
    """(rows, classes) logits with entries in [-bound, bound]."""
    width = 32 if dtype == np.float32 else 64
    shapes = st.tuples(st.integers(1, max_rows), st.integers(2, max_classes))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=width)
    return hnp.arrays(dtype, shapes, elements=elements)


@st.composite
def distinct_logits(draw, min_gap: float = 0.01, max_gap: float = 1.0, max_classes: int = 8):
    """1-D float64 logits whose sorted values differ by at least ``min_gap`` (no ties), shuffled."""
    C = draw(st.integers(2, max_classes))
    gaps = draw(st.lists(st.floats(min_gap, max_gap), min_size=C, max_size=C))
    order = draw(st.permutations(range(C)))
    offset = draw(st.floats(-10.0, 10.0))
    sorted_values = offset + np.cumsum(gaps)                 # strictly increasing
    return torch.tensor(sorted_values[list(order)], dtype=torch.float64)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("T", TEMPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_matches_torch_softmax_of_scaled_logits(T, dtype):
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(0), dtype=dtype) * 4
    torch.testing.assert_close(softmax_with_temperature(z, T), torch.softmax(z / T, dim=-1))


def test_temperature_one_is_plain_softmax():
    z = torch.randn(3, 6, generator=torch.Generator().manual_seed(1)) * 5
    torch.testing.assert_close(softmax_with_temperature(z, 1.0), torch.softmax(z, dim=-1))
    torch.testing.assert_close(softmax_with_temperature(z), torch.softmax(z, dim=-1))  # default T = 1


@pytest.mark.parametrize("T", TEMPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_matches_torch_log_softmax_of_scaled_logits(T, dtype):
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(2), dtype=dtype) * 4
    torch.testing.assert_close(log_softmax_with_temperature(z, T), torch.log_softmax(z / T, dim=-1))


@SETTINGS
@given(z=logit_arrays(50.0), T=temperatures)
def test_softmax_and_log_softmax_match_torch_property(z, T):
    z = torch.from_numpy(z)
    torch.testing.assert_close(softmax_with_temperature(z, T), torch.softmax(z / T, dim=-1))
    torch.testing.assert_close(log_softmax_with_temperature(z, T), torch.log_softmax(z / T, dim=-1))


# --------------------------------------------------------------------------- normalisation / stability

EXTREME = [[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [1e4, 9999.0, -1e4]]

# Subtracting the row max before logsumexp keeps these exact; without it the result carries
# ulp(max|z/T|) of error: 0.0156 nats in float32 at |z/T| = 2e5 (a bug caught by these tests).


@pytest.mark.parametrize("T", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_give_finite_probabilities(T, dtype):
    z = torch.tensor(EXTREME, dtype=dtype)
    p = softmax_with_temperature(z, T)
    assert torch.isfinite(p).all()
    assert ((p >= 0) & (p <= 1)).all()
    assert torch.equal(p.argmax(-1), torch.tensor([0, 0, 0, 0]))


@pytest.mark.parametrize("T", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_rows_sum_to_one(T, dtype):
    z = torch.tensor(EXTREME, dtype=dtype)
    p = softmax_with_temperature(z, T)
    torch.testing.assert_close(p.sum(-1), torch.ones(len(EXTREME), dtype=dtype), rtol=0, atol=SUM_ATOL[dtype])


@pytest.mark.parametrize("T", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_finite_at_extremes(T, dtype):
    logp = log_softmax_with_temperature(torch.tensor(EXTREME, dtype=dtype), T)
    assert torch.isfinite(logp).all()
    assert (logp <= 0).all()
    # z = (1e4, -1e4, 0), T = 0.05: the loser sits 2e4 / 0.05 = 4e5 nats below the winner.
    if T == 0.05:
        assert logp[0, 1].item() == pytest.approx(-4e5, rel=1e-6)


@pytest.mark.parametrize("T", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_matches_torch_at_extremes(T, dtype):
    z = torch.tensor(EXTREME, dtype=dtype)
    torch.testing.assert_close(log_softmax_with_temperature(z, T), torch.log_softmax(z / T, dim=-1))


def test_equal_huge_logits_give_exactly_log_C():
    # The minimal reproduction of the cancellation bug, in float64 where it is smallest: expect -log 3.
    logp = log_softmax_with_temperature(torch.full((1, 3), -1e4, dtype=torch.float64), 0.05)
    torch.testing.assert_close(logp, torch.full((1, 3), -math.log(3), dtype=torch.float64), rtol=0, atol=1e-12)


@SETTINGS
@given(z=logit_arrays(1e4, np.float32), T=temperatures)
def test_finite_probabilities_float32(z, T):
    z = torch.from_numpy(z)
    p = softmax_with_temperature(z, T)
    assert p.dtype == torch.float32
    assert torch.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert torch.isfinite(log_softmax_with_temperature(z, T)).all()


@SETTINGS
@given(z=logit_arrays(1e4, np.float64), T=temperatures)
def test_finite_probabilities_float64(z, T):
    z = torch.from_numpy(z)
    p = softmax_with_temperature(z, T)
    assert p.dtype == torch.float64
    assert torch.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert torch.isfinite(log_softmax_with_temperature(z, T)).all()


@SETTINGS
@given(z=logit_arrays(1e4, np.float32), T=temperatures)
def test_rows_sum_to_one_float32(z, T):
    p = softmax_with_temperature(torch.from_numpy(z), T)
    torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0]), rtol=0, atol=SUM_ATOL[torch.float32])


@SETTINGS
@given(z=logit_arrays(1e4, np.float64), T=temperatures)
def test_rows_sum_to_one_float64(z, T):
    p = softmax_with_temperature(torch.from_numpy(z), T)
    torch.testing.assert_close(
        p.sum(-1), torch.ones(p.shape[0], dtype=torch.float64), rtol=0, atol=SUM_ATOL[torch.float64]
    )


@SETTINGS
@given(z=logit_arrays(50.0, np.float64), T=temperatures)
def test_rows_sum_to_one_moderate_logits(z, T):
    # |z/T| <= 1000: ulp(1000) = 1.1e-13 in float64, so even the current formula is exact to 1e-12.
    p = softmax_with_temperature(torch.from_numpy(z), T)
    torch.testing.assert_close(
        p.sum(-1), torch.ones(p.shape[0], dtype=torch.float64), rtol=0, atol=SUM_ATOL[torch.float64]
    )


# --------------------------------------------------------------------------- ranking


@SETTINGS
@given(z=distinct_logits(), T=temperatures)
def test_ranking_never_changes_with_temperature(z, T):
    # Gaps >= 0.01 and range <= 8 keep z/T within 160 nats: no probability underflows to a tie.
    p = softmax_with_temperature(z, T)
    assert torch.equal(torch.argsort(p), torch.argsort(z))
    assert torch.equal(torch.argsort(log_softmax_with_temperature(z, T)), torch.argsort(z))


@SETTINGS
@given(z=distinct_logits(min_gap=1.0, max_gap=1000.0), T1=temperatures, T2=temperatures)
def test_log_prob_ranking_same_at_any_two_temperatures_wide_logits(z, T1, T2):
    # Log-probabilities never underflow, so they keep the order even where probabilities reach 0.
    a = log_softmax_with_temperature(z, T1)
    b = log_softmax_with_temperature(z, T2)
    assert torch.equal(torch.argsort(a), torch.argsort(b))
    assert torch.equal(torch.argsort(a), torch.argsort(z))


# --------------------------------------------------------------------------- limits


@SETTINGS
@given(z=logit_arrays(3.0), T=st.sampled_from([1e2, 1e3, 1e4]))
def test_large_temperature_is_nearly_uniform(z, T):
    z = torch.from_numpy(z)
    C = z.shape[-1]
    R = (z.max(-1).values - z.min(-1).values).max().item()
    p = softmax_with_temperature(z, T)
    # p_i / p_j <= exp(R/T) and the mean of p is 1/C, so C * p_i lies in [exp(-R/T), exp(R/T)].
    assert (C * p >= math.exp(-R / T) - 1e-12).all()
    assert (C * p <= math.exp(R / T) + 1e-12).all()
    assert (p - 1.0 / C).abs().max() <= 6.0 / T  # since R <= 6 and exp(x) - 1 <= 2x for x <= 1


def test_uniformity_improves_as_temperature_grows():
    z = torch.tensor([[3.0, -1.0, 0.5, 2.0]], dtype=torch.float64)
    dist = [(softmax_with_temperature(z, T) - 0.25).abs().max().item() for T in [1, 10, 100, 1000]]
    assert all(b < a for a, b in zip(dist, dist[1:]))
    assert dist[-1] < 1e-3


@SETTINGS
@given(z=distinct_logits(min_gap=0.1), T=st.sampled_from([0.01, 0.003, 0.001]))
def test_small_temperature_is_nearly_one_hot_on_argmax(z, T):
    C = z.numel()
    top2 = torch.topk(z, 2).values
    gap = (top2[0] - top2[1]).item()
    p = softmax_with_temperature(z, T)
    assert p.argmax().item() == z.argmax().item()
    # every loser has p_j / p_max <= exp(-gap/T), so 1 - p_max <= (C - 1) exp(-gap/T) (<= 3.2e-4 here).
    assert 1.0 - p.max().item() <= (C - 1) * math.exp(-gap / T) + 1e-12
    assert 1.0 - p.max().item() < 1e-3


# --------------------------------------------------------------------------- entropy


@pytest.mark.parametrize("C", [2, 3, 10, 1000])
def test_entropy_of_uniform_is_log_C(C):
    u = torch.full((C,), 1.0 / C, dtype=torch.float64)
    assert entropy(u).item() == pytest.approx(math.log(C), rel=1e-12)
    # equal logits are uniform at every temperature
    for T in [0.05, 1.0, 100.0]:
        assert entropy_at_temperature(torch.zeros(C, dtype=torch.float64), T).item() == pytest.approx(
            math.log(C), rel=1e-12
        )


def test_entropy_of_one_hot_is_zero_and_has_right_shape():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    h = entropy(p)
    assert h.shape == (2,)
    torch.testing.assert_close(h, torch.zeros(2))


@SETTINGS
@given(z=logit_arrays(100.0))
def test_entropy_grows_with_temperature(z):
    z = torch.from_numpy(z)
    C = z.shape[-1]
    Ts = [0.05, 0.1, 0.3, 1.0, 2.0, 5.0, 20.0, 100.0]
    H = torch.stack([entropy_at_temperature(z, T) for T in Ts])  # (len(Ts), rows)
    # dH/d(1/T) = -(1/T) Var_q(z) <= 0: non-decreasing in T, up to float64 rounding (~1e-12 nats).
    assert (H[1:] - H[:-1] >= -1e-10).all()
    assert (H >= -1e-12).all() and (H <= math.log(C) + 1e-12).all()


@SETTINGS
@given(z=logit_arrays(50.0), T=temperatures)
def test_entropy_at_temperature_matches_entropy_of_softmax(z, T):
    z = torch.from_numpy(z)
    torch.testing.assert_close(
        entropy_at_temperature(z, T), entropy(softmax_with_temperature(z, T)), rtol=1e-9, atol=1e-9
    )


# --------------------------------------------------------------------------- soft targets


@pytest.mark.parametrize("T", [0.5, 1.0, 2.0, 8.0])
def test_soft_targets_are_detached_softmax(T):
    t = (torch.randn(4, 5, generator=torch.Generator().manual_seed(3)) * 3).requires_grad_(True)
    q = soft_targets(t, T)
    assert not q.requires_grad
    assert q.grad_fn is None
    torch.testing.assert_close(q, softmax_with_temperature(t.detach(), T))
    torch.testing.assert_close(q, torch.softmax(t.detach() / T, dim=-1))


def test_soft_targets_default_temperature_is_two():
    t = torch.randn(2, 4, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(soft_targets(t), torch.softmax(t / 2.0, dim=-1))


def test_soft_targets_do_not_let_gradient_reach_teacher():
    t = torch.randn(2, 4, requires_grad=True)
    s = torch.randn(2, 4, requires_grad=True)
    (soft_targets(t, 2.0) * torch.log_softmax(s, -1)).sum().backward()
    assert t.grad is None
    assert s.grad is not None


# --------------------------------------------------------------------------- bad temperatures

BAD_T = [
    (0, "0"),
    (0.0, "0.0"),
    (-1, "-1"),
    (-1.0, "-1.0"),
    (-0.5, "-0.5"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (float("-inf"), "-inf"),
]
FUNCS = [softmax_with_temperature, log_softmax_with_temperature, soft_targets, entropy_at_temperature]


@pytest.mark.parametrize("func", FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("T", "shown"), BAD_T, ids=[s for _, s in BAD_T])
def test_bad_temperature_raises_value_error_naming_it(func, T, shown):
    with pytest.raises(ValueError, match=re.escape(shown)) as excinfo:
        func(torch.zeros(2, 3), T)
    assert "T" in str(excinfo.value)


@pytest.mark.parametrize("T", [None, "hot", [1.0]])
def test_non_numeric_temperature_raises_value_error(T):
    with pytest.raises(ValueError):
        check_temperature(T)


def test_check_temperature_accepts_numbers_and_scalar_tensors():
    assert check_temperature(2) == 2.0 and isinstance(check_temperature(2), float)
    assert check_temperature(torch.tensor(0.5)) == 0.5
    with pytest.raises(ValueError, match=re.escape("-2.0")):
        check_temperature(torch.tensor(-2.0))
    with pytest.raises(ValueError, match=re.escape("(2,)")):
        check_temperature(torch.tensor([1.0, 2.0]))


# --------------------------------------------------------------------------- dim argument


@pytest.mark.parametrize("T", [0.5, 3.0])
def test_dim_zero(T):
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 3
    p = softmax_with_temperature(z, T, dim=0)
    torch.testing.assert_close(p, torch.softmax(z / T, dim=0))
    torch.testing.assert_close(p.sum(0), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(log_softmax_with_temperature(z, T, dim=0), torch.log_softmax(z / T, dim=0))
    torch.testing.assert_close(soft_targets(z, T, dim=0), torch.softmax(z / T, dim=0))
    H = entropy_at_temperature(z, T, dim=0)
    assert H.shape == (3,)
    torch.testing.assert_close(H, entropy(torch.softmax(z / T, dim=0), dim=0))


def test_dim_middle_of_3d_tensor():
    z = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    torch.testing.assert_close(softmax_with_temperature(z, 2.0, dim=1), torch.softmax(z / 2.0, dim=1))
    assert entropy_at_temperature(z, 2.0, dim=1).shape == (2, 4)
