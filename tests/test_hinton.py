"""Tests for kd_teach.hinton.losses: the Hinton et al. (2015) distillation loss.

Gradient facts used below (one row, C classes, q = softmax(z_s/T), p = softmax(z_t/T), B rows, "batchmean"):

    d/dz_s [T^k * KL(p || q) / B] = T^(k-1) (q - p) / B                           (Hinton Eq. 2)
                                  = T^(k-2) A_T (z_s - z_t) / B,   A_T = int_0^1 J(u_l / T) dl,

with J(u) = diag(softmax(u)) - softmax(u) softmax(u)^T and u_l = z_t + l (z_s - z_t) (mean value theorem).
J kills the all-ones vector; on its orthogonal complement, v^T J v = Var_p(v) lies between
p_min |v|^2 and p_max |v|^2. If every row of z_s and z_t has range (max - min) <= R, so does every u_l,
so at temperature T every probability obeys

    1 / (1 + (C-1) e^(R/T)) <= p_i <= 1 / (1 + (C-1) e^(-R/T)),

hence  lam_min(R, C, T) |d_c| <= B T^(2-k) |grad| <= lam_max(R, C, T) |d_c|,  where d_c is z_s - z_t
with each row's mean removed. Both bounds tend to 1/C as T grows: with T^2 (k = 2) the gradient tends to
d_c / (B C), a constant; without it (k = 0) it shrinks like 1/T^2.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss

SETTINGS = settings(max_examples=50, deadline=None)
TEMPS = [0.5, 1.0, 2.0, 4.0, 10.0, 20.0]
GRAD_TEMPS = [1.0, 2.0, 5.0, 10.0, 20.0]


def _randn(*shape, seed=0, scale=3.0, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * scale


def reference_kd(s, t, T, scale_by_T2=True):
    ref = F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")
    return ref * T**2 if scale_by_T2 else ref


@st.composite
def logit_pairs(draw, bound: float, max_rows: int = 4, min_classes: int = 2, max_classes: int = 6):
    """(student, teacher) float64 logits of one shape (B, C), entries in [-bound, bound]."""
    B = draw(st.integers(1, max_rows))
    C = draw(st.integers(min_classes, max_classes))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    s = draw(hnp.arrays(np.float64, (B, C), elements=elements))
    t = draw(hnp.arrays(np.float64, (B, C), elements=elements))
    return torch.from_numpy(s), torch.from_numpy(t)


def grad_norm(s, t, T, scale_by_T2=True):
    s = s.clone().requires_grad_(True)
    distillation_loss(s, t, T, scale_by_T2).backward()
    return s.grad.norm().item()


def row_range(*logits):
    return max((z.max(-1).values - z.min(-1).values).max().item() for z in logits)


def lam_bounds(R, C, T):
    """Bounds on the eigenvalues of A_T on the centred subspace (module docstring)."""
    return 1.0 / (1.0 + (C - 1) * math.exp(R / T)), 1.0 / (1.0 + (C - 1) * math.exp(-R / T))


def ratio_window(R, C, T1, T2, k):
    """[lo, hi] for grad_norm(T1) / grad_norm(T2) when the loss is multiplied by T^k."""
    lo1, hi1 = lam_bounds(R, C, T1)
    lo2, hi2 = lam_bounds(R, C, T2)
    f = (T2 / T1) ** (2 - k)
    return f * lo1 / hi2, f * hi1 / lo2


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("T", TEMPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_distillation_loss_matches_kl_div_times_T2(T, dtype):
    s, t = _randn(8, 5, seed=1, dtype=dtype), _randn(8, 5, seed=2, dtype=dtype)
    # float32: at T = 20 a row's KL (~0.014 nats) is a difference of log-probs of size ~log 5 = 1.6,
    # so cancellation alone costs ~ (2 * 1.6 / 0.014) * eps ~ 3e-5 relative, in both implementations.
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == torch.float32 else {}
    torch.testing.assert_close(distillation_loss(s, t, T), reference_kd(s, t, T), **tol)
    torch.testing.assert_close(distillation_loss(s, t, T, scale_by_T2=True), reference_kd(s, t, T), **tol)
    # and against the float64 truth
    truth = reference_kd(s.double(), t.double(), T)
    torch.testing.assert_close(distillation_loss(s, t, T).double(), truth, **(tol or dict(rtol=1e-12, atol=1e-12)))


@pytest.mark.parametrize("T", TEMPS)
def test_distillation_loss_without_T2(T):
    s, t = _randn(8, 5, seed=3), _randn(8, 5, seed=4)
    torch.testing.assert_close(distillation_loss(s, t, T, scale_by_T2=False), reference_kd(s, t, T, False))
    torch.testing.assert_close(
        distillation_loss(s, t, T, scale_by_T2=True), T**2 * distillation_loss(s, t, T, scale_by_T2=False)
    )


def test_distillation_loss_default_temperature_is_two():
    s, t = _randn(3, 4, seed=5), _randn(3, 4, seed=6)
    torch.testing.assert_close(distillation_loss(s, t), reference_kd(s, t, 2.0))


def test_distillation_loss_is_a_scalar():
    assert distillation_loss(_randn(3, 4, seed=7), _randn(3, 4, seed=8)).shape == ()


@pytest.mark.parametrize("T", TEMPS)
@pytest.mark.parametrize("scale_by_T2", [True, False])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_zero_when_student_equals_teacher(T, scale_by_T2, scale):
    t = _randn(6, 7, seed=9, scale=scale)
    loss = distillation_loss(t.clone(), t, T, scale_by_T2)
    assert abs(loss.item()) <= 1e-6


@pytest.mark.parametrize("T", [1.0, 4.0])
@pytest.mark.parametrize("k", [0, 2])
def test_gradient_is_hinton_closed_form(T, k):
    # Hinton Eq. 2: d/dz_s [T^k KL / B] = T^(k-1) (q - p) / B.
    s, t = _randn(4, 5, seed=10, dtype=torch.float64), _randn(4, 5, seed=11, dtype=torch.float64)
    s.requires_grad_(True)
    distillation_loss(s, t, T, scale_by_T2=(k == 2)).backward()
    q, p = torch.softmax(s.detach() / T, -1), torch.softmax(t / T, -1)
    torch.testing.assert_close(s.grad, T ** (k - 1) * (q - p) / 4)


def test_student_loss_is_cross_entropy():
    s = _randn(8, 5, seed=12)
    y = torch.randint(0, 5, (8,), generator=torch.Generator().manual_seed(13))
    torch.testing.assert_close(student_loss(s, y), F.cross_entropy(s, y))


def test_unlabelled_rows_add_nothing_and_the_batch_still_divides():
    s = _randn(6, 3, seed=14)
    y = torch.tensor([2, -100, 0, -100, -100, 1])           # -100: a transfer-set sentence
    labelled = y != -100
    per_row = F.cross_entropy(s[labelled], y[labelled], reduction="none")
    torch.testing.assert_close(student_loss(s, y), per_row.sum() / 6)
    # each example's loss is alpha * its CE (if labelled) + beta * its KL, averaged over the batch
    t = _randn(6, 3, seed=15)
    per_example = 0.1 * torch.zeros(6).index_put((labelled.nonzero()[:, 0],), per_row) + 0.9 * 16 * (
        F.softmax(t / 4, -1) * (F.log_softmax(t / 4, -1) - F.log_softmax(s / 4, -1))).sum(-1)
    torch.testing.assert_close(kd_loss(s, t, y, 0.1, 0.9, 4.0), per_example.mean())


def test_a_batch_without_labels_gives_zero_student_loss_with_a_graph():
    s = _randn(4, 2, seed=16).requires_grad_(True)
    loss = student_loss(s, torch.full((4,), -100))
    assert loss.item() == 0.0 and loss.requires_grad      # not NaN, as F.cross_entropy's mean would be
    loss.backward()
    assert torch.equal(s.grad, torch.zeros_like(s))


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.5), (0.1, 0.9), (1.0, 0.0), (0.0, 1.0), (2.0, 3.0)])
@pytest.mark.parametrize("T", [1.0, 2.0, 8.0])
@pytest.mark.parametrize("scale_by_T2", [True, False])
def test_kd_loss_is_weighted_sum(alpha, beta, T, scale_by_T2):
    s, t = _randn(6, 4, seed=14), _randn(6, 4, seed=15)
    y = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(16))
    expected = alpha * F.cross_entropy(s, y) + beta * reference_kd(s, t, T, scale_by_T2)
    torch.testing.assert_close(kd_loss(s, t, y, alpha=alpha, beta=beta, T=T, scale_by_T2=scale_by_T2), expected)
    torch.testing.assert_close(
        kd_loss(s, t, y, alpha, beta, T, scale_by_T2),
        alpha * student_loss(s, y) + beta * distillation_loss(s, t, T, scale_by_T2),
    )


def test_kd_loss_returns_the_terms_it_summed():
    s, t = _randn(6, 4, seed=20), _randn(6, 4, seed=21)
    y = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(22))
    loss, terms = kd_loss(s, t, y, alpha=0.1, beta=0.9, T=4.0, return_terms=True)
    torch.testing.assert_close(loss, kd_loss(s, t, y, alpha=0.1, beta=0.9, T=4.0))
    assert terms["student_loss"] == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)
    assert terms["distillation_loss"] == pytest.approx(reference_kd(s, t, 4.0, True).item(), rel=1e-5)


def test_kd_loss_defaults():
    s, t = _randn(6, 4, seed=17), _randn(6, 4, seed=18)
    y = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(19))
    torch.testing.assert_close(kd_loss(s, t, y), 0.5 * F.cross_entropy(s, y) + 0.5 * reference_kd(s, t, 2.0))


# --------------------------------------------------------------------------- properties


@SETTINGS
@given(pair=logit_pairs(20.0), T=st.floats(0.05, 20.0), scale_by_T2=st.booleans())
def test_distillation_loss_non_negative(pair, T, scale_by_T2):
    s, t = pair
    # KL >= 0 (Gibbs); rounding error is below eps * T^2 * 2R/T * a few <= 2e-16 * 20 * 80 * 4 ~ 1.4e-12.
    assert distillation_loss(s, t, T, scale_by_T2).item() >= -1e-10


@SETTINGS
@given(
    pair=logit_pairs(20.0),
    T=st.floats(0.1, 20.0),
    shift=st.lists(st.floats(-50.0, 50.0), min_size=4, max_size=4),
)
def test_invariant_to_per_row_constant(pair, T, shift):
    s, t = pair
    c = torch.tensor(shift[: s.shape[0]], dtype=torch.float64).unsqueeze(-1)   # (B, 1): one constant a row
    base = distillation_loss(s, t, T)
    # softmax(z + c) = softmax(z); the shift only costs rounding of |z + c| / T <= 700 nats (~1e-13).
    torch.testing.assert_close(distillation_loss(s + c, t, T), base, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(distillation_loss(s, t + c, T), base, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(distillation_loss(s + c, t - c, T), base, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(pair=logit_pairs(3.0), T=st.sampled_from(GRAD_TEMPS), scale_by_T2=st.booleans())
def test_gradient_norm_within_spectral_bounds(pair, T, scale_by_T2):
    # The sandwich of the module docstring, for any logits: lam_min |d_c| <= B T^(2-k) |grad| <= lam_max |d_c|.
    s, t = pair
    B, C = s.shape
    d = s - t
    d_c = (d - d.mean(-1, keepdim=True)).norm().item()
    assume(d_c > 1e-3)
    k = 2 if scale_by_T2 else 0
    lo, hi = lam_bounds(row_range(s, t), C, T)
    measured = B * T ** (2 - k) * grad_norm(s, t, T, scale_by_T2) / d_c
    assert lo * (1 - 1e-9) <= measured <= hi * (1 + 1e-9)


@SETTINGS
@given(pair=logit_pairs(0.5, max_classes=5))
def test_with_T2_gradient_norm_stays_comparable_across_temperatures(pair):
    s, t = pair
    d = s - t
    assume((d - d.mean(-1, keepdim=True)).norm().item() > 1e-3)
    norms = [grad_norm(s, t, T, scale_by_T2=True) for T in GRAD_TEMPS]
    # R <= 1, C <= 5: max/min <= lam_max/lam_min at T = 1 = (1 + 4e)/(1 + 4/e) = 4.80 < 5.
    assert max(norms) / min(norms) < 5.0
    lo, hi = ratio_window(row_range(s, t), s.shape[1], 20.0, 10.0, k=2)
    assert lo <= norms[-1] / norms[-2] <= hi


@SETTINGS
@given(pair=logit_pairs(1.0, max_classes=5))
def test_without_T2_gradient_shrinks_like_one_over_T_squared(pair):
    s, t = pair
    d = s - t
    assume((d - d.mean(-1, keepdim=True)).norm().item() > 1e-3)
    r = grad_norm(s, t, 20.0, scale_by_T2=False) / grad_norm(s, t, 10.0, scale_by_T2=False)
    # R <= 2, C <= 5: r lies in 1/4 * [lam_min(20)/lam_max(10), lam_max(20)/lam_min(10)] = [0.197, 0.319].
    lo, hi = ratio_window(2.0, 5, 20.0, 10.0, k=0)
    assert 0.19 < lo and hi < 0.33
    assert lo <= r <= hi
    # the T^2 factor is exactly what undoes the shrinking
    r2 = grad_norm(s, t, 20.0, scale_by_T2=True) / grad_norm(s, t, 10.0, scale_by_T2=True)
    assert r2 == pytest.approx(4 * r, rel=1e-9)


def test_without_small_logits_T1_gradient_can_differ_a_lot():
    # Why the bounds above need moderate logits: a saturated teacher (p ~ (1, 0) at T = 1) has a
    # tiny Jacobian J = p(1-p) = sigma(6) sigma(-6) ~ 0.0025 against sigma(0.3) sigma(-0.3) ~ 0.24 at T = 20.
    t = torch.tensor([[3.0, -3.0]], dtype=torch.float64)
    s = t + torch.tensor([[1e-4, -1e-4]], dtype=torch.float64)
    sig = torch.sigmoid
    expected = (sig(torch.tensor(0.3)) * sig(torch.tensor(-0.3)) / (sig(torch.tensor(6.0)) * sig(torch.tensor(-6.0))))
    ratio = grad_norm(s, t, 20.0) / grad_norm(s, t, 1.0)
    assert ratio == pytest.approx(expected.item(), rel=1e-2)   # small-delta linearisation: error O(1e-4)
    assert ratio > 50


# --------------------------------------------------------------------------- no gradient into the teacher


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_no_gradient_flows_into_teacher(T):
    s = _randn(4, 3, seed=20).requires_grad_(True)
    t = _randn(4, 3, seed=21).requires_grad_(True)
    distillation_loss(s, t, T).backward()
    assert t.grad is None
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_no_gradient_flows_into_teacher_through_kd_loss():
    s = _randn(4, 3, seed=22).requires_grad_(True)
    t = _randn(4, 3, seed=23).requires_grad_(True)
    y = torch.tensor([0, 1, 2, 0])
    kd_loss(s, t, y, alpha=0.3, beta=0.7, T=3.0).backward()
    assert t.grad is None
    assert s.grad is not None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("s_shape", "t_shape"), [((4, 3), (4, 5)), ((4, 3), (2, 3)), ((4, 3), (4, 3, 1))])
def test_shape_mismatch_names_both_shapes(s_shape, t_shape):
    with pytest.raises(ValueError) as excinfo:
        distillation_loss(torch.zeros(s_shape), torch.zeros(t_shape))
    msg = str(excinfo.value)
    assert str(s_shape) in msg and str(t_shape) in msg
    with pytest.raises(ValueError, match=re.escape(str(t_shape))):
        kd_loss(torch.zeros(s_shape), torch.zeros(t_shape), torch.zeros(s_shape[0], dtype=torch.long))


@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), ()])
def test_non_2d_logits_rejected(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        distillation_loss(torch.zeros(shape), torch.zeros(shape))


def test_student_loss_rejects_bad_labels_shape():
    with pytest.raises(ValueError, match=re.escape("(4, 3)")):
        student_loss(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError):
        student_loss(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long))


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("alpha", -0.5, "-0.5"), ("alpha", -1, "-1"), ("beta", -2.0, "-2.0"), ("alpha", float("nan"), "nan"),
])
def test_negative_weight_rejected(name, value, shown):
    s, t, y = torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape(name)) as excinfo:
        kd_loss(s, t, y, **{name: value})
    assert shown in str(excinfo.value)


@pytest.mark.parametrize(("T", "shown"), [(0, "0"), (0.0, "0.0"), (-1, "-1"), (-1.5, "-1.5"),
                                          (float("nan"), "nan"), (float("inf"), "inf")])
def test_bad_temperature_rejected(T, shown):
    s, t, y = torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape(shown)):
        distillation_loss(s, t, T)
    with pytest.raises(ValueError, match=re.escape(shown)):
        kd_loss(s, t, y, T=T)
