"""TinyBERT's data augmentation, one sentence at a time, with the teacher's soft labels (notebook 07).

:class:`AugmentationExplorer`: pick an SST-2 sentence and see

- each replaceable word's candidates and where they came from: the masked-LM teacher (a word
  of one WordPiece, predicted with the word masked) or GloVe (a word of several pieces, its
  nearest neighbours);
- the new sentences drawn from them (:func:`kd_teach.tinybert.augment.sample_augmentations`,
  seeded as :func:`kd_teach.tinybert.augment.augment` seeds them: at the preset's N, p and seed
  they are exactly the sentences task distillation trains on), the changed words marked;
- the fine-tuned teacher's **soft label** P(positive) on the original and on every new sentence.

That last column is the chapter's key idea (Jiao et al. 2020, Section 3.3): nobody trusts the
original's label for a new sentence ("good" and "bad" are GloVe neighbours); the teacher labels
it, and task distillation learns from that label.
"""
from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from datasets import Dataset
from IPython.display import display

from kd_teach.engine.data import UNLABELLED, tokenize
from kd_teach.engine.evaluate import teacher_logits
from kd_teach.tinybert.augment import Augmented, Augmenter, WordCandidates, sample_augmentations, sentence_rng

SOURCE_NAMES = {"mlm": "masked LM", "glove": "GloVe"}
SOURCE_COLOURS = {"mlm": "#cfe3f7", "glove": "#fde2b8"}
POSITIVE = 1  # SST-2's label ids: 0 negative, 1 positive
STYLE = ("<style>.kd-aug table{border-collapse:collapse;margin:4px 0 10px} .kd-aug th,.kd-aug td{padding:2px 10px;"
         "text-align:left;vertical-align:top} .kd-aug th{border-bottom:1px solid #999}</style>")
LEGEND = (f"<span style='background:{SOURCE_COLOURS['mlm']}'>&nbsp;from the masked LM&nbsp;</span> "
          f"<span style='background:{SOURCE_COLOURS['glove']}'>&nbsp;from GloVe&nbsp;</span> "
          "(hover over a new word for the word it replaced)")


def soft_labels(teacher: torch.nn.Module, tokenizer, sentences: Sequence[str], max_length: int = 64) -> list[float]:
    """The teacher's probability of "positive" for each sentence, as task distillation sees it.

    Tokenised and batched as the training sets are (:func:`kd_teach.engine.data.tokenize`, then
    :func:`kd_teach.engine.evaluate.teacher_logits`), so these are the soft targets of L_pred at t = 1.

    Args:
        teacher: an SST-2 sequence classifier (2 classes, label 1 positive).
        max_length: tokens kept per sentence (the data's ``max_length``).
    Returns:
        One float in [0, 1] per sentence: softmax(z_t)[positive].
    """
    ds = tokenize(Dataset.from_dict({"sentence": list(sentences), "label": [UNLABELLED] * len(sentences)}),
                  tokenizer, max_length)
    z_t = teacher_logits(teacher, ds, tokenizer)                                 # (n, 2)
    return z_t.softmax(-1)[:, POSITIVE].tolist()


def marked_html(wc: WordCandidates, changes: Sequence[tuple[int, str, str, str]]) -> str:
    """``render(wc, changes)`` as HTML, each new word coloured by its source, the old word in its tooltip."""
    out, end = [], 0
    for i, old, new, source in sorted(changes):
        start, stop = wc.spans[i]
        out += [html.escape(wc.sentence[end:start]),
                f"<span class='kd-aug-{source}' style='background:{SOURCE_COLOURS[source]}' "
                f"title='was &quot;{html.escape(old)}&quot; ({SOURCE_NAMES[source]})'>{html.escape(new)}</span>"]
        end = stop
    return "".join(out) + html.escape(wc.sentence[end:])


class AugmentationExplorer:
    """Pick a sentence; see its candidates, the augmented sentences and the teacher's soft label on each.

    Python API (what the controls do): set ``explorer.sentence.value``, ``.N.value``, ``.p.value``;
    read ``explorer.candidates`` (the :class:`WordCandidates` of the sentence: ``.candidates`` and
    ``.source`` per word index), ``explorer.augmented`` (the :class:`Augmented` sentences, each with
    its ``changes`` as (word index, old, new, "mlm" | "glove")), ``explorer.p_positive`` (the
    teacher's P(positive): the original first, then one per augmented sentence) and
    ``explorer.summary`` (a line in words).

    Args:
        augmenter: the :class:`Augmenter` (masked-LM teacher and GloVe) that makes candidates.
        teacher: the SST-2-fine-tuned teacher that labels every sentence.
        tokenizer: the teacher's tokenizer.
        sentences: the sentences to choose from.
        N, p, seed: the sliders' starting N and p, and the seed (the preset's make the training set's sentences).
        max_length: tokens the teacher sees per sentence.
    Raises:
        ValueError: if ``sentences`` is empty.
    """

    def __init__(self, augmenter: Augmenter, teacher: torch.nn.Module, tokenizer, sentences: Sequence[str],
                 N: int = 20, p: float = 0.4, seed: int = 0, max_length: int = 64):
        if not sentences:
            raise ValueError("sentences must hold at least one sentence to explore, got none")
        self.augmenter, self.teacher, self.tokenizer = augmenter, teacher, tokenizer
        self.seed, self.max_length = seed, max_length
        self._candidates: dict[str, WordCandidates] = {}
        self._labels: dict[str, float] = {}
        self.sentence = widgets.Dropdown(options=list(sentences), description="sentence",
                                         layout=widgets.Layout(width="95%"))
        self.N = widgets.IntSlider(value=N, min=1, max=max(20, N), description="N draws", continuous_update=False)
        self.p = widgets.FloatSlider(value=p, min=0.0, max=1.0, step=0.05, description="p",
                                     readout_format=".2f", continuous_update=False)
        self.text, self.words_table, self.table = widgets.HTML(), widgets.HTML(), widgets.HTML()
        for w in (self.sentence, self.N, self.p):
            w.observe(lambda change: self.update(), names="value")
        self.widget = widgets.VBox([self.sentence, widgets.HBox([self.N, self.p]), self.text,
                                    self.words_table, self.table])
        self.update()

    def _wc(self, sentence: str) -> WordCandidates:
        if sentence not in self._candidates:
            [self._candidates[sentence]] = self.augmenter.candidates([sentence])
        return self._candidates[sentence]

    def _soft_labels(self, sentences: list[str]) -> list[float]:
        new = [s for s in dict.fromkeys(sentences) if s not in self._labels]
        if new:
            self._labels.update(zip(new, soft_labels(self.teacher, self.tokenizer, new, self.max_length)))
        return [self._labels[s] for s in sentences]

    def update(self) -> None:
        """Candidates, seeded draws and soft labels for the current sentence, N and p; redraw."""
        wc = self.candidates = self._wc(self.sentence.value)
        self.augmented: list[Augmented] = sample_augmentations(wc, self.N.value, self.p.value,
                                                               sentence_rng(self.seed, wc.sentence))
        self.p_positive = self._soft_labels([wc.sentence] + [a.sentence for a in self.augmented])
        p0 = self.p_positive[0]
        flips = sum((q > 0.5) != (p0 > 0.5) for q in self.p_positive[1:])
        sources = list(wc.source.values())
        self.summary = (f"Candidates for {len(wc.candidates)} of {len(wc.words)} words ({sources.count('mlm')} from "
                        f"the masked LM, {sources.count('glove')} from GloVe); new sentences: {len(self.augmented)} "
                        f"from {self.N.value} draws at p = {self.p.value:.2f}. The teacher's P(positive): original "
                        f"{p0:.3f}" + (f", new sentences {min(self.p_positive[1:]):.3f} to "
                                       f"{max(self.p_positive[1:]):.3f}; its label flips on {flips} of "
                                       f"{len(self.augmented)}." if self.augmented else "."))
        self.text.value = f"<p class='kd-aug-summary'>{html.escape(self.summary)}</p>"
        self.words_table.value = self._words_html(wc)
        self.table.value = self._sentences_html(wc)

    def _words_html(self, wc: WordCandidates) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(wc.words[i])}</td><td style='background:{SOURCE_COLOURS[wc.source[i]]}'>"
            f"{SOURCE_NAMES[wc.source[i]]}</td><td>{html.escape(', '.join(cands[:8]))}"
            f"{', ...' if len(cands) > 8 else ''}</td></tr>" for i, cands in wc.candidates.items())
        return (f"{STYLE}<div class='kd-aug'><table class='kd-aug-words'><tr><th>word</th><th>candidates from</th>"
                f"<th>candidates (likeliest first)</th></tr>{rows}</table></div>" if rows
                else "<p>No word of this sentence can be replaced: no new sentences.</p>")

    def _sentences_html(self, wc: WordCandidates) -> str:
        p0 = self.p_positive[0]
        rows = [f"<tr class='kd-aug-row'><td><b>original</b></td><td class='kd-aug-sentence'>{html.escape(wc.sentence)}"
                f"</td><td></td><td class='kd-aug-p'>{p0:.3f}</td><td></td></tr>"]
        for a, q in zip(self.augmented, self.p_positive[1:]):
            changes = "; ".join(f"{old} → {new} ({SOURCE_NAMES[src]})" for _, old, new, src in a.changes)
            flips = " <b>label flips</b>" if (q > 0.5) != (p0 > 0.5) else ""
            rows.append(f"<tr class='kd-aug-row'><td>new</td><td class='kd-aug-sentence'>{marked_html(wc, a.changes)}"
                        f"</td><td>{html.escape(changes)}</td><td class='kd-aug-p'>{q:.3f}</td>"
                        f"<td>{q - p0:+.3f}{flips}</td></tr>")
        return (f"<div class='kd-aug'>{LEGEND}<table class='kd-aug-sentences'><tr><th></th><th>sentence</th>"
                "<th>changed words</th><th>teacher P(positive)</th><th>vs original</th></tr>" + "".join(rows)
                + "</table></div>")

    def _ipython_display_(self) -> None:
        display(self.widget)
