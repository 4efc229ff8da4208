"""TinyBERT's layer mapping n = g(m), picked and drawn (notebook 05).

:class:`MappingPicker` lets a learner choose the student's and the teacher's depth and a
strategy (uniform, top, bottom, or a custom list), computes g with
:func:`kd_teach.tinybert.mapping.layer_mapping` and draws which teacher layer each student
layer learns from: embeddings 0 -> 0 (L_embd), layer m -> g(m) for hidden states and attention
(L_hidn, L_attn), prediction -> prediction (L_pred). A mapping that does not fit is refused
with the package's own ValueError message.
"""
from __future__ import annotations

import html
import re

import ipywidgets as widgets
from IPython.display import display

from kd_teach.course.attention_view import chart_image, figure_png
from kd_teach.tinybert.mapping import STRATEGIES, describe_mapping, draw_mapping, layer_mapping


def parse_layers(text: str) -> list[int]:
    """``"3, 6, 9, 12"`` (brackets and spaces allowed) -> [3, 6, 9, 12].

    Raises:
        ValueError: if ``text`` holds anything but whole numbers separated by commas or spaces.
    """
    parts = [p for p in re.split(r"[,\s]+", text.strip().strip("[]()").strip()) if p]
    if not parts or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise ValueError(f"a custom mapping is a list of whole teacher layer numbers separated by commas, "
                         f"such as 2, 4, 6; got {text!r}")
    return [int(p) for p in parts]


class MappingPicker:
    """Pick M, N and a strategy; see g(m) drawn and described, or the reason it does not fit.

    Python API (what the controls do): set ``picker.student_layers.value`` (M),
    ``.teacher_layers.value`` (N), ``.strategy.value`` ("uniform", "top", "bottom" or "custom")
    and ``.custom.value`` (e.g. ``"2, 4, 6"``, used when the strategy is "custom"); read
    ``picker.g`` ([0, g(1), ..., g(M)], or None when refused), ``picker.error`` (the ValueError's
    message, or None) and ``picker.message`` (the text shown).

    Args:
        student_layers: M to start with (>= 1).
        teacher_layers: N to start with (>= 1).
        strategy: the starting strategy, one of "uniform", "top", "bottom", "custom".
        custom: the starting custom list, as text.
        max_layers: the sliders' upper end.
    Raises:
        ValueError: for a starting strategy that is not one of the four.
    Source: TinyBERT, Jiao et al. 2020, Section 3.1 (n = g(m)) and Section 4.5 (uniform, top, bottom).
    """

    def __init__(self, student_layers: int = 4, teacher_layers: int = 12, strategy: str = "uniform",
                 custom: str = "", max_layers: int = 24):
        options = [*STRATEGIES, "custom"]
        if strategy not in options:
            raise ValueError(f"strategy must be one of {options}, got {strategy!r}")
        style = {"description_width": "110px"}
        self.student_layers = widgets.IntSlider(value=student_layers, min=1, max=max_layers,
                                                description="student layers M", style=style)
        self.teacher_layers = widgets.IntSlider(value=teacher_layers, min=1, max=max_layers,
                                                description="teacher layers N", style=style)
        self.strategy = widgets.ToggleButtons(options=options, value=strategy, description="g(m)", style=style)
        self.custom = widgets.Text(value=custom, placeholder="teacher layers, e.g. 2, 4, 6",
                                   description="custom list", style=style)
        self.text, self.chart = widgets.HTML(), chart_image()
        for w in (self.student_layers, self.teacher_layers, self.strategy, self.custom):
            w.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.student_layers, self.teacher_layers]), self.strategy,
                                    self.custom, self.text, self.chart])
        self.update()

    def update(self) -> None:
        """Compute g for the current choice with the package, or keep its error; redraw."""
        M, N, strategy = self.student_layers.value, self.teacher_layers.value, self.strategy.value
        self.custom.disabled = strategy != "custom"
        try:
            chosen = parse_layers(self.custom.value) if strategy == "custom" else strategy
            self.g, self.error = layer_mapping(M, N, chosen), None
        except ValueError as err:
            self.g, self.error = None, str(err)
        if self.error is not None:
            self.message = f"Refused: {self.error}"
            self.text.value = f"<div class='kd-mapping' style='color:#b00'>{html.escape(self.message)}</div>"
            self.chart.value = b""
            return
        self.message = (f"g = {self.g}: student layer m learns the hidden states and attention of teacher "
                        f"layer g(m).\n" + describe_mapping(self.g, N))
        self.text.value = f"<pre class='kd-mapping'>{html.escape(self.message)}</pre>"
        fig = draw_mapping(self.g, N, title=f"{strategy}: a {M}-layer student of a {N}-layer teacher\n"
                                            "(layer to layer: hidden states and attention)")
        self.chart.value = figure_png(fig)

    def _ipython_display_(self) -> None:
        display(self.widget)
