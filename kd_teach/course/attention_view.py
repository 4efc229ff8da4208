"""Looking at attention: teacher and student heatmaps side by side, and where the attention mass goes.

- :func:`attention_maps`: one sentence's pre-softmax scores and probabilities, per layer and head;
- :class:`AttentionExplorer`: widgets to pick a sentence, a student layer m (the teacher's is
  g(m)), a head and scores or probabilities, redrawing both heatmaps and that head's L_attn;
- :func:`special_token_share`: the average attention probability each head puts on [SEP] and
  [CLS]. Clark et al. ("What Does BERT Look At?", 2019) found many BERT heads put most of
  their mass on [SEP], apparently as a "no-op" when a head has nothing to attend to; TinyBERT's
  authors show such patterns in the attention its L_attn distils;
- :func:`figure_png` and :func:`chart_image`: how the course's widgets show a matplotlib figure
  (whole, at its own size).
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from kd_teach.tinybert.attention import bert_layers, layer_outputs
from kd_teach.tinybert.losses import L_attn, scores_to_probs

COLOUR_LABELS = {"scores": "score q·k / √d_k (before the softmax)",
                 "probs": "attention probability (softmax over keys)"}


def chart_image() -> widgets.Image:
    """An empty PNG widget that keeps the picture's own size: in a VBox an image is otherwise stretched
    to the cell's width (a drawing 380 pixels wide blown up to 900, blurred)."""
    return widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))


def figure_png(fig: Figure, dpi: int = 80, pad_inches: float = 0.1) -> bytes:
    """``fig`` as PNG bytes, cropped to everything drawn plus ``pad_inches``, so no label is cut off.

    Long rotated token labels ("cinematography") can reach past the figure's edge even under the
    constrained layout; ``bbox_inches="tight"`` grows or crops the image to what is drawn.
    """
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches="tight", pad_inches=pad_inches, facecolor="white")
    return png.getvalue()


@torch.no_grad()
def attention_maps(model: torch.nn.Module, tokenizer, sentence: str, layers: Sequence[int] | None = None
                   ) -> tuple[list[str], dict[int, torch.Tensor], dict[int, torch.Tensor]]:
    """The tokens of ``sentence`` and, per layer m, scores and probabilities of shape (heads, seq, seq).

    Args:
        model: a BERT (eval mode is set here).
        layers: 1-based layers (default: all).
    """
    model.eval()
    layers = list(range(1, len(bert_layers(model)) + 1)) if layers is None else list(layers)
    batch = dict(tokenizer(sentence, return_tensors="pt"))
    out = layer_outputs(model, batch, layers)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    scores = {m: out.scores[m][0] for m in layers}                                       # (H, L, L)
    probs = {m: scores_to_probs(out.scores[m], batch["attention_mask"])[0] for m in layers}  # (H, L, L)
    return tokens, scores, probs


@torch.no_grad()
def special_token_share(model: torch.nn.Module, tokenizer, sentences: Sequence[str]) -> dict[str, torch.Tensor]:
    """Mean attention probability on [SEP] and on [CLS], per layer and head, over real query tokens.

    Returns:
        {"[SEP]": (layers, heads), "[CLS]": (layers, heads), "uniform": (,)} where "uniform" is
        what a head attending evenly would give one token (the mean of 1 / sentence length).
    """
    model.eval()
    n = len(bert_layers(model))
    batch = dict(tokenizer(list(sentences), padding=True, return_tensors="pt"))
    am = batch["attention_mask"]                                                          # (B, L)
    out = layer_outputs(model, batch, range(1, n + 1))
    ids = batch["input_ids"]
    shares = {}
    for name, token_id in (("[SEP]", tokenizer.sep_token_id), ("[CLS]", tokenizer.cls_token_id)):
        key = (ids == token_id)[:, None, None, :]                                         # (B, 1, 1, L)
        per_layer = []
        for m in range(1, n + 1):
            p = scores_to_probs(out.scores[m], am)                                        # (B, H, L, L)
            mass = (p * key).sum(-1)                                                      # (B, H, L) per query
            real = am[:, None, :].expand_as(mass).bool()
            per_layer.append((mass * real).sum((0, 2)) / real.sum((0, 2)))                # (H,)
        shares[name] = torch.stack(per_layer)                                             # (layers, H)
    shares["uniform"] = (1 / am.sum(1).float()).mean()
    return shares


class AttentionExplorer:
    """Teacher and student attention for one sentence, side by side, with widgets to choose what to see.

    Student layer m is shown next to teacher layer g(m), the layer it learns from. Python API
    (what the widgets do): set ``explorer.sentence.value``, ``.layer.value`` (m), ``.head.value``,
    ``.view.value`` ("scores" or "probs"); read ``explorer.teacher_map``, ``explorer.student_map``
    (seq, seq), ``explorer.tokens`` and ``explorer.loss`` (this head's L_attn on this sentence).

    Args:
        teacher, student: BERTs with the same tokenizer and number of heads.
        tokenizer: their tokenizer.
        sentences: the sentences to choose from.
        g: the layer mapping [0, g(1), ..., g(M)] (:func:`kd_teach.tinybert.mapping.layer_mapping`).
    """

    def __init__(self, teacher, student, tokenizer, sentences: Sequence[str], g: Sequence[int]):
        self.teacher, self.student, self.tokenizer, self.g = teacher, student, tokenizer, list(g)
        self._cache: dict[str, tuple] = {}
        heads = student.config.num_attention_heads
        self.sentence = widgets.Dropdown(options=list(sentences), description="sentence",
                                         layout=widgets.Layout(width="95%"))
        self.layer = widgets.Dropdown(options=[(f"student {m} ↔ teacher {self.g[m]}", m) for m in range(1, len(g))],
                                      description="layer")
        self.head = widgets.IntSlider(value=0, min=0, max=heads - 1, description="head")
        self.view = widgets.ToggleButtons(options=["scores", "probs"], description="show")
        self.text = widgets.HTML()
        self.chart = chart_image()
        for w in (self.sentence, self.layer, self.head, self.view):
            w.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.sentence, widgets.HBox([self.layer, self.head]), self.view,
                                    self.text, self.chart])
        self.update()

    def _maps(self, sentence: str):
        if sentence not in self._cache:
            tokens, s_t, p_t = attention_maps(self.teacher, self.tokenizer, sentence, sorted(set(self.g[1:])))
            _, s_s, p_s = attention_maps(self.student, self.tokenizer, sentence)
            self._cache[sentence] = (tokens, s_t, p_t, s_s, p_s)
        return self._cache[sentence]

    def update(self) -> None:
        """Recompute both maps and the loss for the current choice; redraw."""
        tokens, s_t, p_t, s_s, p_s = self._maps(self.sentence.value)
        m, h, on = self.layer.value, self.head.value, self.view.value
        teacher, student = (s_t, s_s) if on == "scores" else (p_t, p_s)
        self.tokens = tokens
        self.teacher_map, self.student_map = teacher[self.g[m]][h], student[m][h]            # (L, L) each
        self.loss = L_attn(self.student_map[None, None], self.teacher_map[None, None], on=on).item()
        self.text.value = (f"student layer {m}, head {h} against teacher layer {self.g[m]}, head {h}: "
                           f"L_attn on {on} for this head and sentence = <b>{self.loss:.4f}</b>")
        self.chart.value = figure_png(self.figure())

    def figure(self) -> Figure:
        """The two heatmaps: rows are queries (who looks), columns keys (at whom); one colour scale."""
        fig = Figure(figsize=(11, 5.5), layout="constrained")
        axes = fig.subplots(1, 2)
        both = torch.stack([self.teacher_map, self.student_map])
        lo, hi = both.min().item(), both.max().item()
        for ax, grid, who in zip(axes, (self.teacher_map, self.student_map),
                                 (f"teacher layer {self.g[self.layer.value]}", f"student layer {self.layer.value}")):
            image = ax.imshow(grid.numpy(), cmap="viridis", vmin=lo, vmax=hi)
            ax.set_xticks(range(len(self.tokens)), self.tokens, rotation=90, fontsize=8)
            ax.set_yticks(range(len(self.tokens)), self.tokens, fontsize=8)
            ax.set_xlabel("key (the token looked at)")
            ax.set_ylabel("query (the token looking)")
            ax.set_title(f"{who}, head {self.head.value} ({self.view.value})")
        bar = fig.colorbar(image, ax=axes, shrink=0.8)
        bar.set_label(COLOUR_LABELS[self.view.value])
        return fig

    def _ipython_display_(self) -> None:
        display(self.widget)
