"""Interactive widgets of the course (ipywidgets; no external JavaScript, works offline).

Each widget keeps its state in plain attributes (``probs``, ``entropy``, the slider's
``value``) so tests and notebooks can drive it through the Python API, exactly as a learner
drives it with the mouse or the keyboard.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from kd_teach.temperature import entropy_at_temperature, softmax_with_temperature


class TemperatureExplorer:
    """A slider for the temperature T that redraws softmax_T(logits) as bars and prints the entropy.

    Args:
        logits: (classes,) raw scores to explore.
        labels: one name per class.
        T: initial temperature (a finite float > 0).
        T_min, T_max, step: the slider's range and step (arrow keys move by ``step``).
        title: shown above the chart; say whether the logits are real or illustrative.
    Raises:
        ValueError: if ``logits`` is not 1-D or ``labels`` has another length.
    """

    def __init__(self, logits: torch.Tensor | Sequence[float], labels: Sequence[str], T: float = 1.0,
                 T_min: float = 0.1, T_max: float = 20.0, step: float = 0.1, title: str = ""):
        self.logits = torch.as_tensor(logits, dtype=torch.float64)
        if self.logits.dim() != 1 or len(labels) != self.logits.numel():
            raise ValueError(f"need 1-D logits and one label per class, got logits of shape "
                             f"{tuple(self.logits.shape)} and {len(labels)} labels")
        self.labels = list(labels)
        self.title = title
        self.slider = widgets.FloatSlider(value=T, min=T_min, max=T_max, step=step, description="T",
                                          continuous_update=True, readout_format=".1f")
        self.text = widgets.HTML()
        self.chart = widgets.Image(format="png")  # the bar chart, re-rendered on every change
        self.slider.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.slider, self.text, self.chart])
        self.update()

    @property
    def T(self) -> float:
        return float(self.slider.value)

    def update(self) -> None:
        """Recompute the probabilities and entropy at the slider's T; redraw text and bars."""
        self.probs = softmax_with_temperature(self.logits, self.T)           # (classes,)
        self.entropy = entropy_at_temperature(self.logits, self.T).item()    # nats
        cells = " ".join(f"{label}: {p:.3f}" for label, p in zip(self.labels, self.probs.tolist()))
        self.text.value = (f"<b>T = {self.T:.1f}</b> &nbsp; entropy = {self.entropy:.3f} nats "
                           f"(max {math.log(len(self.labels)):.3f}) <br><span class='kd-probs'>{cells}</span>")
        png = io.BytesIO()
        self.figure().savefig(png, format="png", dpi=80)
        self.chart.value = png.getvalue()

    def figure(self) -> Figure:
        """The bar chart of the current probabilities."""
        fig = Figure(figsize=(7, 2.8), layout="constrained")
        ax = fig.subplots()
        ax.bar(self.labels, self.probs.tolist(), color="tab:blue")
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(f"{self.title}  softmax at T = {self.T:.1f}".strip())
        return fig

    def _ipython_display_(self) -> None:
        display(self.widget)
