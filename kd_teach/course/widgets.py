"""Interactive widgets of the course (ipywidgets; no external JavaScript, works offline).

- :class:`TemperatureExplorer`: a slider for T over softmax_T(logits) (notebook 01);
- :class:`LayerPicker`: which teacher layers DistilBERT's student keeps, its size and the
  weights it copies (notebook 03).

Each widget keeps its state in plain attributes (``probs``, ``entropy``, the slider's
``value``; ``layers``, ``params``, ``mapping``) so tests and notebooks can drive it through the
Python API, exactly as a learner drives it with the mouse or the keyboard.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from kd_teach.course.attention_view import chart_image, figure_png
from kd_teach.temperature import entropy_at_temperature, softmax_with_temperature


T_VALUES = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 20.0)  # the slider's stops


class TemperatureExplorer:
    """A slider for the temperature T that redraws softmax_T(logits) as bars and prints the entropy.

    The slider steps through :data:`T_VALUES` (an arrow key moves one value): as many stops below 3, where
    the softmax changes fastest, as above it, and round values such as 0.5 and 1.0 that a linear slider
    from 0.1 to 20 could not be dragged to.

    Args:
        logits: (classes,) raw scores to explore.
        labels: one name per class.
        T: initial temperature, one of ``values``.
        values: the temperatures the slider offers, increasing.
        title: shown above the chart; say whether the logits are real or illustrative.
    Raises:
        ValueError: if ``logits`` is not 1-D, ``labels`` has another length, or ``T`` is not in ``values``.
    """

    def __init__(self, logits: torch.Tensor | Sequence[float], labels: Sequence[str], T: float = 1.0,
                 values: Sequence[float] = None, title: str = ""):
        values = list(T_VALUES if values is None else values)
        if T not in values:
            raise ValueError(f"T must be one of the slider's values {values}, got {T}")
        self.logits = torch.as_tensor(logits, dtype=torch.float64)
        if self.logits.dim() != 1 or len(labels) != self.logits.numel():
            raise ValueError(f"need 1-D logits and one label per class, got logits of shape "
                             f"{tuple(self.logits.shape)} and {len(labels)} labels")
        self.labels = list(labels)
        self.title = title
        self.slider = widgets.SelectionSlider(options=[(f"{t:g}" if t < 1 else f"{t:.1f}", t) for t in values],
                                              value=T, description="T", continuous_update=True)
        self.text = widgets.HTML()
        self.chart = chart_image()  # the bar chart at its own size (not stretched), re-rendered on every change
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
        self.chart.value = figure_png(self.figure())  # cropped to what is drawn: no edge cut off

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


class LayerPicker:
    """Toggle buttons to pick which teacher layers DistilBERT's student keeps (Sanh et al. 2019, Sec. 3).

    A kept layer's button is green with a tick, a dropped layer's plain. On every change it shows
    the student's parameter count (the model is built on the ``meta`` device, so no memory is
    used and it is instant), its share of the teacher's, and a table of
    which teacher weights are copied to which student weights, as :func:`distilbert_state_dict`
    copies them. An empty choice is refused in words (:func:`check_student_layers`).

    Python API (what the buttons do): ``picker.layers = [0, 2, 4]`` (or ``picker.select([...])``),
    then ``picker.params``, ``picker.teacher_params``, ``picker.share``, ``picker.mapping`` (a list of
    (teacher weight, student weight) names) and ``picker.message``. ``params``, ``share`` and
    ``mapping`` are None / empty while the choice is invalid.

    Args:
        teacher: a ``BertForMaskedLM`` (its parameters are counted as they are) or its ``BertConfig``
            (a ``BertForMaskedLM`` is built on the meta device to count them).
        layers: the initial choice; default :func:`default_student_layers`.
    """

    def __init__(self, teacher, layers: Sequence[int] | None = None):
        from transformers import BertForMaskedLM, PretrainedConfig

        from kd_teach.distilbert.student import default_student_layers
        from kd_teach.engine.models import count_parameters

        if isinstance(teacher, PretrainedConfig):
            self.config = teacher
            with torch.device("meta"):
                self.teacher_params = count_parameters(BertForMaskedLM(teacher))
        elif isinstance(teacher, torch.nn.Module) and hasattr(teacher, "config"):
            self.config, self.teacher_params = teacher.config, count_parameters(teacher)
        else:
            raise ValueError(f"teacher must be a BertForMaskedLM or a BertConfig, got {type(teacher).__name__}")
        self.n_teacher_layers = self.config.num_hidden_layers
        self._counts: dict[int, int] = {}  # student depth -> parameters (they depend on the depth only)
        self._quiet = False
        self.buttons = [widgets.ToggleButton(description=f"layer {i}", tooltip=f"keep teacher layer {i}",
                                             layout=widgets.Layout(width="auto"))
                        for i in range(self.n_teacher_layers)]
        for button in self.buttons:
            button.observe(lambda change: self.update(), names="value")
        self.reset = widgets.Button(description="one in two (default)")
        self.reset.on_click(lambda _: self.select(default_student_layers(self.n_teacher_layers)))
        self.summary, self.table = widgets.HTML(), widgets.HTML()
        row = widgets.HBox([*self.buttons, self.reset], layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([widgets.HTML("<b>Teacher layers the student keeps:</b>"), row,
                                    self.summary, self.table])
        self.select(default_student_layers(self.n_teacher_layers) if layers is None else layers)

    @property
    def layers(self) -> list[int]:
        """The teacher layers picked, in increasing order."""
        return [i for i, button in enumerate(self.buttons) if button.value]

    @layers.setter
    def layers(self, layers: Sequence[int]) -> None:
        self.select(layers)

    def select(self, layers: Sequence[int]) -> None:
        """Pick exactly ``layers`` (an empty list is allowed: the widget then says what is wrong).

        Raises:
            ValueError: for a non-empty list the buttons cannot show (a repeat, a decreasing order,
                an index outside the teacher), from :func:`check_student_layers`.
        """
        from kd_teach.distilbert.student import check_student_layers

        layers = list(layers)
        if layers:
            layers = check_student_layers(layers, self.n_teacher_layers)
        self._quiet = True  # one redraw for the whole change, not one per button
        try:
            for i, button in enumerate(self.buttons):
                button.value = i in layers
        finally:
            self._quiet = False
        self.update()

    def _student_params(self, n_layers: int) -> int:
        from transformers import DistilBertForMaskedLM

        from kd_teach.distilbert.student import distilbert_config
        from kd_teach.engine.models import count_parameters

        if n_layers not in self._counts:
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                student = DistilBertForMaskedLM(distilbert_config(self.config, n_layers))
                self._counts[n_layers] = count_parameters(student)
        return self._counts[n_layers]

    def update(self) -> None:
        """Validate the choice; recompute the count, the share and the weight table; redraw."""
        if self._quiet:
            return
        from kd_teach.distilbert.student import check_student_layers

        for button in self.buttons:  # a kept layer is green with a tick, a dropped one plain: told apart at a glance
            button.button_style, button.icon = ("success", "check") if button.value else ("", "")
        try:
            layers = check_student_layers(self.layers, self.n_teacher_layers)
        except ValueError as err:
            self.params = self.share = None
            self.mapping = []
            self.message = (f"Pick at least one teacher layer: a student needs one Transformer layer or more "
                            f"({err}).")
            self.summary.value = f"<span style='color:#b00'>{html.escape(self.message)}</span>"
            self.table.value = ""
            return
        self.params = self._student_params(len(layers))
        self.share = self.params / self.teacher_params
        self.mapping = weight_mapping(layers)
        dropped = [i for i in range(self.n_teacher_layers) if i not in layers]
        self.message = (f"Student: {len(layers)} of {self.n_teacher_layers} layers, {self.params:,} parameters, "
                        f"{self.share:.1%} of the teacher's {self.teacher_params:,}. "
                        f"Teacher layers {layers} become student layers {list(range(len(layers)))}"
                        + (f"; layers {dropped} are dropped." if dropped else "."))
        self.summary.value = html.escape(self.message)
        rows = "".join(f"<tr><td><code>{html.escape(t)}</code></td><td>&rarr;</td><td><code>{html.escape(s)}"
                       f"</code></td></tr>" for t, s in self.mapping)
        self.table.value = ("<div style='max-height:260px;overflow:auto'><table><tr><th>teacher weight</th><th></th>"
                            f"<th>student weight</th></tr>{rows}</table></div>")

    def _ipython_display_(self) -> None:
        display(self.widget)


def weight_mapping(layers: Sequence[int]) -> list[tuple[str, str]]:
    """(teacher weight, student weight) names, without ``.weight``/``.bias``, as
    :func:`kd_teach.distilbert.student.distilbert_state_dict` copies them: embeddings, layer ``layers[k]`` -> ``k``, MLM head."""
    from kd_teach.distilbert.student import BERT_TO_DISTILBERT_HEAD, BERT_TO_DISTILBERT_LAYER

    rows = [("bert.embeddings.word_embeddings", "distilbert.embeddings.word_embeddings"),
            ("bert.embeddings.position_embeddings + token_type_embeddings[0]",
             "distilbert.embeddings.position_embeddings"),
            ("bert.embeddings.LayerNorm", "distilbert.embeddings.LayerNorm")]
    rows += [(f"bert.encoder.layer.{i}.{bert}", f"distilbert.transformer.layer.{k}.{distil}")
             for k, i in enumerate(layers) for bert, distil in BERT_TO_DISTILBERT_LAYER.items()]
    rows += list(BERT_TO_DISTILBERT_HEAD.items())
    rows += [("cls.predictions.bias", "vocab_projector.bias")]  # its weight is tied to the word embeddings
    return rows
