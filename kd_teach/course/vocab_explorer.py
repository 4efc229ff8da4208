"""A temperature slider over a masked-LM teacher's soft targets for one blank (notebook 04).

DistilBERT's L_ce (Sanh et al. 2019, Section 2) hands the student the teacher's whole
distribution over the vocabulary at every masked position, softened by T (Hinton et al.
2015, Eq. 1). With 30,522 tokens, most of that "dark knowledge" sits outside the few words a
reader looks at. :class:`MaskedWordExplorer` shows how much: pick a sentence with a [MASK]
and a temperature, and it computes the top-k soft targets, the mass left to the rest of the
vocabulary, the entropy and how many tokens share 90% of the mass.

State lives in plain attributes (``probs``, ``top``, ``top_mass``, ``entropy``,
``perplexity``, ``n90``) so tests and notebooks drive it through the Python API, as a learner
drives it with the mouse.
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
from kd_teach.distilbert.stages import mask_logits
from kd_teach.temperature import softmax_with_temperature


def mass_cover(probs: torch.Tensor, share: float = 0.9) -> int:
    """How many of the likeliest entries of ``probs`` (vocab,) it takes to hold ``share`` of the mass.

    Raises:
        ValueError: if ``share`` is not in (0, 1].
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    cumulative = probs.sort(descending=True).values.cumsum(0)                  # (vocab,)
    return min(int((cumulative < share).sum().item()) + 1, probs.numel())


def readable(p: float) -> str:
    """A probability that stays readable when small: 0.123, 0.004, then 3.1e-05 (never 0.000 for a nonzero one)."""
    return f"{p:.3f}" if p >= 0.001 or p == 0 else f"{p:.1e}"


def short(sentence: str, width: int = 60) -> str:
    """``sentence`` cut to ``width`` characters with an ellipsis, for a chart title."""
    return sentence if len(sentence) <= width else sentence[:width - 1].rstrip() + "…"


class MaskedWordExplorer:
    """A sentence picker and a T slider over softmax_T(z) of a masked-LM teacher at the sentence's [MASK].

    Args:
        teacher: a masked-LM model (``BertForMaskedLM``, e.g. :func:`kd_teach.engine.cache.mlm_teacher`).
        tokenizer: its tokenizer.
        sentences: sentences with exactly one [MASK] each.
        T: the initial temperature (> 0); k: how many tokens to list and draw.
    Raises:
        ValueError: if ``sentences`` is empty or a sentence does not hold exactly one [MASK].
    """

    def __init__(self, teacher: torch.nn.Module, tokenizer, sentences: Sequence[str], T: float = 1.0, k: int = 8,
                 T_min: float = 0.5, T_max: float = 10.0, step: float = 0.5):
        if not sentences:
            raise ValueError("sentences is empty: give at least one sentence with a [MASK]")
        self.logits = {}                                                       # sentence -> (vocab,) logits
        for s in sentences:
            z = mask_logits(teacher, tokenizer, s)                             # (n_masks, vocab)
            if z.shape[0] != 1:
                raise ValueError(f"each sentence needs exactly one {tokenizer.mask_token}, got {z.shape[0]} in {s!r}")
            self.logits[s] = z[0].double()
        self.tokenizer, self.k = tokenizer, k
        self.sentence_box = widgets.Dropdown(options=list(sentences), description="sentence",
                                             layout=widgets.Layout(width="95%"))
        self.slider = widgets.FloatSlider(value=T, min=T_min, max=T_max, step=step, description="T",
                                          continuous_update=True, readout_format=".1f")
        self.text = widgets.HTML()
        self.chart = chart_image()
        for control in (self.sentence_box, self.slider):
            control.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.sentence_box, self.slider, self.text, self.chart])
        self.update()

    @property
    def T(self) -> float:
        return float(self.slider.value)

    @property
    def sentence(self) -> str:
        return self.sentence_box.value

    def update(self) -> None:
        """Recompute the soft targets of the chosen sentence at the slider's T; redraw text and bars."""
        z = self.logits[self.sentence]                                         # (V,)
        self.probs = softmax_with_temperature(z, self.T)                       # (V,) soft targets, sum 1
        values, ids = self.probs.topk(self.k)
        self.top = [(self.tokenizer.convert_ids_to_tokens(int(i)), float(v)) for v, i in zip(values, ids)]
        self.top_mass = float(values.sum())                                    # what a reader sees
        self.entropy = float(-torch.xlogy(self.probs, self.probs).sum())       # nats
        self.perplexity = math.exp(self.entropy)                               # "as unsure as a uniform pick among"
        self.n90 = mass_cover(self.probs, 0.9)
        words = ", ".join(f"'{html.escape(t)}' {readable(p)}" for t, p in self.top)   # quoted: "," and "." are tokens
        self.text.value = (
            f"<i>{html.escape(self.sentence)}</i><br>"
            f"<b>T = {self.T:.1f}</b> &nbsp; top {self.k}: {words}<br>"
            f"top-{self.k} mass {readable(self.top_mass)}; the other {self.probs.numel() - self.k:,} tokens hold "
            f"<b>{1 - self.top_mass:.3f}</b>; 90% of the mass takes {self.n90:,} tokens; "
            f"entropy {self.entropy:.2f} nats (as unsure as a uniform pick among {self.perplexity:,.0f} tokens)")
        self.chart.value = figure_png(self.figure())

    def figure(self) -> Figure:
        """Bars of the top-k soft targets, and of everything else as one bar, on a log scale (at high T the
        top tokens hold thousandths, which a linear axis would draw as nothing)."""
        fig = Figure(figsize=(7.5, 2.8), layout="constrained")
        ax = fig.subplots()
        names = [repr(t) for t, _ in self.top] + ["all the rest"]
        heights = [p for _, p in self.top] + [1 - self.top_mass]
        ax.bar(names, heights, color=["tab:blue"] * self.k + ["tab:gray"])
        ax.set_yscale("log")
        ax.set_ylim(max(min(h for h in heights if h > 0) / 2, 1e-12), 1)
        ax.set_ylabel("soft target (log scale)")
        ax.tick_params(axis="x", labelrotation=30)
        ax.set_title(f"the blank of \"{short(self.sentence)}\" at T = {self.T:.1f}", fontsize=9)
        return fig

    def _ipython_display_(self) -> None:
        display(self.widget)
