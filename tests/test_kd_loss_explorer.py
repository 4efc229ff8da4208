"""Notebook 02's KD-loss explorer, driven through its Python API as a learner drives its sliders."""
import html

import pytest
import torch

from kd_teach.course.kd_loss_explorer import KDLossExplorer, gradient_norm
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    z_s = torch.randn(16, 2, generator=g)                     # an untrained student: small logits
    z_t = 3 * torch.randn(16, 2, generator=g)                  # a confident teacher
    y = torch.randint(0, 2, (16,), generator=g)
    return z_s, z_t, y


def _grad(loss_fn, z_s):
    z = z_s.clone().requires_grad_(True)
    loss_fn(z).backward()
    return z.grad.norm().item()


@pytest.mark.parametrize("T, alpha, beta", [(4.0, 0.1, 0.9), (20.0, 1.0, 0.0), (0.5, 0.0, 1.0)])
def test_every_number_is_the_packages(logits, T, alpha, beta):
    z_s, z_t, y = logits
    explorer = KDLossExplorer(z_s, z_t, y)
    chart = bytes(explorer.chart.value)
    explorer.set(T=T, alpha=alpha, beta=beta)
    v = explorer.values
    assert v["student_loss"] == pytest.approx(student_loss(z_s, y).item(), abs=1e-7)
    assert v["distillation_loss"] == pytest.approx(distillation_loss(z_s, z_t, T).item(), abs=1e-7)
    assert v["distillation_loss_no_T2"] == pytest.approx(distillation_loss(z_s, z_t, T, scale_by_T2=False).item(),
                                                         abs=1e-7)
    assert v["total"] == pytest.approx(kd_loss(z_s, z_t, y, alpha, beta, T).item(), abs=1e-7)
    assert v["grad_distil"] == pytest.approx(_grad(lambda z: distillation_loss(z, z_t, T), z_s), rel=1e-6)
    assert v["grad_total"] == pytest.approx(_grad(lambda z: kd_loss(z, z_t, y, alpha, beta, T), z_s), rel=1e-6)
    assert v["grad_distil"] == pytest.approx(T**2 * v["grad_distil_no_T2"], rel=1e-5)   # T^2 is all that differs
    shown = html.unescape(explorer.text.value)
    assert f"T = {T:.1f}, alpha = {alpha:.2f}, beta = {beta:.2f}" in shown
    assert f"L_distil = {v['distillation_loss']:.4f}" in shown and f"= {v['total']:.4f} nats" in shown
    assert f"L_distil {v['grad_distil']:#.4g} with T², {v['grad_distil_no_T2']:#.4g} without" in shown
    assert bytes(explorer.chart.value).startswith(b"\x89PNG") and bytes(explorer.chart.value) != chart


def test_unticking_T2_changes_the_total_to_the_unscaled_loss(logits):
    z_s, z_t, y = logits
    explorer = KDLossExplorer(z_s, z_t, y, T=10.0, alpha=0.5, beta=0.5)
    with_T2 = explorer.values["total"]
    explorer.scale_by_T2.value = False                         # a learner unticks the box
    without = explorer.values["total"]
    assert without == pytest.approx(kd_loss(z_s, z_t, y, 0.5, 0.5, 10.0, scale_by_T2=False).item(), abs=1e-7)
    assert without < with_T2
    assert f"0.50 x {explorer.values['distillation_loss_no_T2']:.4f}" in explorer.summary
    # without T^2 at T = 10 the soft term's gradient is far below the hard term's: the student follows the labels
    assert explorer.values["grad_distil_no_T2"] < explorer.values["grad_student"] / 10


def test_the_chart_shows_the_gradient_falling_like_one_over_T_squared_without_T2(logits):
    z_s, z_t, y = logits
    explorer = KDLossExplorer(z_s, z_t, y, T_min=0.5, T_max=20.0)
    T, with_T2, without = explorer.T_grid, explorer.grid_norms[True], explorer.grid_norms[False]
    assert len(T) == len(with_T2) == len(without) == 40 and T[0] == pytest.approx(0.5) and T[-1] == pytest.approx(20)
    half = T.index(min(T, key=lambda t: abs(t - 10.0)))       # the grid point nearest T = 10
    assert without[-1] / without[half] == pytest.approx((T[half] / T[-1]) ** 2, rel=0.1)
    assert with_T2[-1] / with_T2[half] == pytest.approx(1.0, abs=0.05)
    assert with_T2[5] == pytest.approx(gradient_norm(lambda z: distillation_loss(z, z_t, T[5]), z_s), rel=1e-6)


def test_one_slider_at_a_time_is_the_same_as_set(logits):
    z_s, z_t, y = logits
    by_hand, at_once = KDLossExplorer(z_s, z_t, y), KDLossExplorer(z_s, z_t, y)
    by_hand.T.value = 6.5                                      # what dragging the T slider does
    by_hand.beta.value = 0.25
    at_once.set(T=6.5, beta=0.25)
    assert by_hand.values == at_once.values and by_hand.summary == at_once.summary
    assert by_hand.values["total"] == pytest.approx(kd_loss(z_s, z_t, y, 0.5, 0.25, 6.5).item(), abs=1e-7)


def test_mismatched_logits_are_refused_in_the_packages_words(logits):
    z_s, z_t, y = logits
    with pytest.raises(ValueError, match="must have the same shape"):
        KDLossExplorer(z_s, z_t[:, :1], y)
    with pytest.raises(ValueError, match=r"labels \(batch,\)"):
        KDLossExplorer(z_s, z_t, y[:3])
