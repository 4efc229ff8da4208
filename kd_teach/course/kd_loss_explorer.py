"""Hinton's KD loss under sliders: T, alpha and beta over real logits (notebook 02).

    L = alpha * L_student + beta * L_distil,   L_distil = T^2 * KL(softmax(z_t/T) || softmax(z_s/T))

:class:`KDLossExplorer` shows, for the teacher's and the student's logits on one batch, the
student loss, the distillation loss (with and without the T^2 factor), the total and the
gradient norm on the student's logits. Its point is Hinton et al. 2015, Section 2: the
soft term's gradient shrinks like 1/T^2 as T grows, so without T^2 a high temperature
silently turns the soft targets off next to the hard ones. Every number comes from
:mod:`kd_teach.hinton.losses`.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from kd_teach.course.attention_view import chart_image, figure_png
from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss


def gradient_norm(loss_fn, student_logits: Tensor) -> float:
    """||dL/dz_s||: the Frobenius norm of the gradient of ``loss_fn(z_s)`` on the (batch, classes) logits."""
    z = student_logits.detach().clone().requires_grad_(True)
    loss_fn(z).backward()
    return z.grad.norm().item()


class KDLossExplorer:
    """Sliders for T, alpha and beta; shows both terms of Hinton's loss, the total and their gradients.

    Python API (what the sliders do): set ``explorer.T.value``, ``.alpha.value``, ``.beta.value``
    and ``.scale_by_T2.value`` (whether the total uses T^2), or several at once with
    ``explorer.set(T=..., alpha=..., beta=...)``; read ``explorer.values``, a dict of
    floats: ``student_loss``, ``distillation_loss`` (with T^2), ``distillation_loss_no_T2``,
    ``total`` (nats), and the gradient norms on the student logits ``grad_distil``,
    ``grad_distil_no_T2`` (of L_distil with and without T^2), ``grad_student`` (of L_student) and
    ``grad_total`` (of the total).
    ``explorer.summary`` is the text shown.

    Args:
        student_logits: (batch, classes) the student's raw scores (detached here).
        teacher_logits: (batch, classes) the teacher's, same shape.
        labels: (batch,) hard labels (class ids).
        T, alpha, beta: the sliders' starting values (T in [T_min, T_max]; alpha, beta in [0, 1]).
        T_min, T_max: the temperature slider's range (step 0.5).
    Raises:
        ValueError: if the logits' shapes differ, are not 2-D, or the labels do not match
            (from :func:`kd_teach.hinton.losses.kd_loss`).
    Source: Hinton, Vinyals and Dean 2015, Section 2 (the loss and the T^2 factor).
    """

    def __init__(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, T: float = 2.0,
                 alpha: float = 0.5, beta: float = 0.5, T_min: float = 0.5, T_max: float = 20.0):
        self.z_s, self.z_t, self.y = student_logits.detach(), teacher_logits.detach(), labels
        kd_loss(self.z_s, self.z_t, self.y, T=T)  # checks the shapes now, with the package's words
        slider = dict(continuous_update=False, style={"description_width": "50px"})
        self.T = widgets.FloatSlider(value=T, min=T_min, max=T_max, step=0.5, description="T",
                                     readout_format=".1f", **slider)
        self.alpha = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha",
                                         readout_format=".2f", **slider)
        self.beta = widgets.FloatSlider(value=beta, min=0.0, max=1.0, step=0.05, description="beta",
                                        readout_format=".2f", **slider)
        self.scale_by_T2 = widgets.Checkbox(value=True, description="total uses T² (Hinton)")
        self.text, self.chart = widgets.HTML(), chart_image()
        self._quiet = False
        for w in (self.T, self.alpha, self.beta, self.scale_by_T2):
            w.observe(lambda change: self._quiet or self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.T, self.alpha, self.beta]), self.scale_by_T2,
                                    self.text, self.chart])
        # the soft term's gradient norm over a grid of T: independent of alpha and beta, computed once
        self.T_grid = torch.logspace(torch.log10(torch.tensor(T_min)), torch.log10(torch.tensor(T_max)), 40).tolist()
        self.grid_norms = {scale: [gradient_norm(lambda z: distillation_loss(z, self.z_t, t, scale), self.z_s)
                                   for t in self.T_grid] for scale in (True, False)}
        self.update()

    def set(self, T: float | None = None, alpha: float | None = None, beta: float | None = None,
            scale_by_T2: bool | None = None) -> None:
        """Move several controls at once (those given), then recompute and redraw once."""
        self._quiet = True
        try:
            for control, value in ((self.T, T), (self.alpha, alpha), (self.beta, beta),
                                   (self.scale_by_T2, scale_by_T2)):
                if value is not None:
                    control.value = value
        finally:
            self._quiet = False
        self.update()

    def compute(self, T: float, alpha: float, beta: float, scale_by_T2: bool = True) -> dict[str, float]:
        """Every number the widget shows, at these settings, from :mod:`kd_teach.hinton.losses`."""
        z_s, z_t, y = self.z_s, self.z_t, self.y
        with torch.no_grad():
            values = {"student_loss": student_loss(z_s, y).item(),
                      "distillation_loss": distillation_loss(z_s, z_t, T).item(),
                      "distillation_loss_no_T2": distillation_loss(z_s, z_t, T, scale_by_T2=False).item(),
                      "total": kd_loss(z_s, z_t, y, alpha, beta, T, scale_by_T2).item()}
        values["grad_distil"] = gradient_norm(lambda z: distillation_loss(z, z_t, T), z_s)
        values["grad_distil_no_T2"] = gradient_norm(lambda z: distillation_loss(z, z_t, T, scale_by_T2=False), z_s)
        values["grad_student"] = gradient_norm(lambda z: student_loss(z, y), z_s)
        values["grad_total"] = gradient_norm(lambda z: kd_loss(z, z_t, y, alpha, beta, T, scale_by_T2), z_s)
        return values

    def update(self) -> None:
        """Recompute every number at the sliders' values; redraw the text and the chart."""
        T, alpha, beta, scale = self.T.value, self.alpha.value, self.beta.value, self.scale_by_T2.value
        v = self.values = self.compute(T, alpha, beta, scale)
        used = "distillation_loss" if scale else "distillation_loss_no_T2"
        self.summary = (f"T = {T:.1f}, alpha = {alpha:.2f}, beta = {beta:.2f}: "
                        f"L_student = {v['student_loss']:.4f}, L_distil = {v['distillation_loss']:.4f} "
                        f"(without T²: {v['distillation_loss_no_T2']:.4f}), "
                        f"L = {alpha:.2f} x {v['student_loss']:.4f} + {beta:.2f} x {v[used]:.4f} "
                        f"= {v['total']:.4f} nats. "
                        f"Gradient norm on the student logits: L_distil {v['grad_distil']:#.4g} with T², "
                        f"{v['grad_distil_no_T2']:#.4g} without; L_student {v['grad_student']:#.4g}; "
                        f"L {v['grad_total']:#.4g}.")
        self.text.value = f"<span class='kd-kdloss'>{html.escape(self.summary)}</span>"
        self.chart.value = figure_png(self.figure())

    def figure(self) -> Figure:
        """Left: the weighted terms and the total. Right: the soft term's gradient norm against T, with
        and without T^2, beside the hard term's (which does not depend on T)."""
        T, alpha, beta, v = self.T.value, self.alpha.value, self.beta.value, self.values
        soft = v["distillation_loss"] if self.scale_by_T2.value else v["distillation_loss_no_T2"]
        fig = Figure(figsize=(10, 3.2), layout="constrained")
        left, right = fig.subplots(1, 2)
        left.bar(["alpha x L_student", "beta x L_distil", "L (total)"], [alpha * v["student_loss"], beta * soft,
                 v["total"]], color=["tab:gray", "tab:blue", "tab:green"])
        left.set_ylabel("nats")
        left.set_title(f"the loss at T = {T:.1f}" + ("" if self.scale_by_T2.value else " (no T²)"))
        for scale, style in ((True, "-"), (False, "--")):
            right.loglog(self.T_grid, self.grid_norms[scale], style, color="tab:blue",
                         label="with T²" if scale else "without T²")
        right.axhline(v["grad_student"], color="tab:gray", ls=":", label="L_student's (hard labels)")
        right.axvline(T, color="tab:red", lw=1, label=f"T = {T:.1f}")
        right.set(xlabel="temperature T", ylabel="||dL / dz_s||",
                  title="gradient of the soft term L_distil on the student logits")
        right.legend(fontsize=8)
        return fig

    def _ipython_display_(self) -> None:
        display(self.widget)
