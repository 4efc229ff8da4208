"""Checkers for the exercises of notebook 03 (teacher and student): counting and copying weights.

``check_bert_parameter_count(fn)`` compares the learner's formula with the parameters of real
``BertModel`` configs of several sizes (built on the ``meta`` device: shapes only, instant);
``check_student_weight_name(fn)`` compares the learner's renaming of BERT weights with the one
:func:`kd_teach.distilbert.student.distilbert_state_dict` performs. As in :mod:`kd_teach.course.checks`, all agree:
one line of success; otherwise :class:`~kd_teach.course.checks.CheckFailed` names the input, what was
expected and what came back, and a hint: a usual mistake, named only when redoing the count
with that mistake reproduces the learner's numbers. NotImplementedError (an exercise
placeholder) propagates unchanged.
"""
from __future__ import annotations

import itertools
import math
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from kd_teach.course.checks.core import CheckFailed, one_thread
from kd_teach.distilbert.student import BERT_TO_DISTILBERT_LAYER, distilbert_state_dict
from kd_teach.engine.models import count_parameters


# --------------------------------------------------------------------------- parameter counts
@dataclass(frozen=True)
class Size:
    """A BERT's shape: what ``bert_parameter_count`` receives (heads do not change the count)."""
    name: str
    vocab: int
    hidden: int
    layers: int
    ffn: int
    max_positions: int
    type_vocab: int
    heads: int

    def kwargs(self) -> dict:
        return dict(vocab=self.vocab, hidden=self.hidden, layers=self.layers, ffn=self.ffn,
                    max_positions=self.max_positions, type_vocab=self.type_vocab)

    def text(self) -> str:
        return (f"{self.name} (vocab={self.vocab}, hidden={self.hidden}, layers={self.layers}, ffn={self.ffn}, "
                f"max_positions={self.max_positions}, type_vocab={self.type_vocab})")


SIZES = (
    Size("BERT-base", 30522, 768, 12, 3072, 512, 2, 12),
    Size("all-MiniLM-L6-v2", 30522, 384, 6, 1536, 512, 2, 12),
    Size("TinyBERT4", 30522, 312, 4, 1200, 512, 2, 12),
    Size("a tiny BERT", 1000, 64, 2, 200, 128, 3, 2),
    Size("BERT-large", 30522, 1024, 24, 4096, 512, 2, 16),
)


@lru_cache(maxsize=None)
def bert_parameters(size: Size) -> int:
    """Parameters of ``BertModel`` (with its pooler) of this size, counted by torch on the meta device."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=size.vocab, hidden_size=size.hidden, num_hidden_layers=size.layers,
                        intermediate_size=size.ffn, max_position_embeddings=size.max_positions,
                        type_vocab_size=size.type_vocab, num_attention_heads=size.heads)
    with torch.device("meta"):
        return count_parameters(BertModel(config))


def _layer(s: Size) -> int:
    """One Transformer layer: Q, K, V, O with biases; FFN in and out with biases; two LayerNorms."""
    h, f = s.hidden, s.ffn
    return 4 * (h * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h


# What each usual mistake adds to the right count (a negative number: something left out).
COUNT_MISTAKES = {
    "forgot the biases (every Linear layer has one: Q, K, V, O, both FFN layers, the pooler)":
        lambda s: -(s.layers * (4 * s.hidden + s.ffn + s.hidden) + s.hidden),
    "forgot the LayerNorms (weight and bias each: one after the embeddings, two in every layer)":
        lambda s: -(2 * s.hidden + s.layers * 4 * s.hidden),
    "forgot the LayerNorms inside the layers (two per layer, weight and bias each)":
        lambda s: -s.layers * 4 * s.hidden,
    "forgot the LayerNorm after the embeddings (weight and bias)": lambda s: -2 * s.hidden,
    "forgot the position embeddings (max_positions x hidden)": lambda s: -s.max_positions * s.hidden,
    "forgot the token-type (segment) embeddings (type_vocab x hidden)": lambda s: -s.type_vocab * s.hidden,
    "forgot the pooler (a hidden x hidden Linear with its bias, on the [CLS] vector)":
        lambda s: -(s.hidden * s.hidden + s.hidden),
    "counted the MLM decoder (vocab x hidden), but it is tied to the word embeddings: the same matrix, "
    "counted once (and BertModel has no MLM head)": lambda s: s.vocab * s.hidden,
    "forgot the attention's output projection O (hidden x hidden with its bias): attention has four "
    "Linear layers, Q, K, V and O": lambda s: -s.layers * (s.hidden * s.hidden + s.hidden),
    "counted one FFN matrix only: the FFN is two Linear layers, hidden -> ffn and ffn -> hidden":
        lambda s: -s.layers * (s.ffn * s.hidden + s.hidden),
    "one layer too few: count all `layers` layers (range(layers), not range(layers - 1))": lambda s: -_layer(s),
    "one layer too many: there are `layers` layers, not layers + 1": lambda s: _layer(s),
    "counted the attention heads' projections per head: Q, K and V are hidden x hidden in all, "
    "shared out among the heads, not hidden x hidden per head": lambda s: 3 * (s.heads - 1) * s.layers * s.hidden ** 2,
}


def _whole(x, what: str) -> int:
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x != int(x):
        raise CheckFailed(f"{what} must be a whole number (the number of parameters), got {x!r}.")
    return int(x)


def _name_mistake(got: dict[Size, int]) -> str | None:
    """The mistake (or pair of mistakes) whose deltas reproduce every count the learner gave."""
    for n in (1, 2):
        for combo in itertools.combinations(COUNT_MISTAKES.items(), n):
            if all(got[s] - bert_parameters(s) == sum(m(s) for _, m in combo) for s in got):
                return " and ".join(h for h, _ in combo)
    return None


@one_thread
def check_bert_parameter_count(fn: Callable) -> None:
    """Check fn(vocab, hidden, layers, ffn, max_positions, type_vocab) -> int against real BertModels.

    The reference is torch's own count of ``BertModel(BertConfig(...))`` (with its pooler, as BERT's
    authors count it) for BERT-base, all-MiniLM-L6-v2, TinyBERT4, a tiny BERT and BERT-large.
    """
    usage = "bert_parameter_count(vocab, hidden, layers, ffn, max_positions, type_vocab)"
    got, first = {}, None
    for s in SIZES:
        try:
            out = fn(**s.kwargs())
        except NotImplementedError:
            raise
        except Exception as e:
            hint = f" Hint: your function is called as {usage}, with these names." if isinstance(e, TypeError) else ""
            raise CheckFailed(f"bert_parameter_count raised {type(e).__name__} for {s.text()}: {e}.{hint}") from e
        got[s] = _whole(out, f"bert_parameter_count's result for {s.name}")
        if first is None and got[s] != bert_parameters(s):
            first = s
    if first is None:
        print(f"✓ bert_parameter_count matches torch's count of BertModel for {len(SIZES)} sizes "
              f"({', '.join(s.name for s in SIZES)}).")
        return
    want, diff = bert_parameters(first), got[first] - bert_parameters(first)
    hint = _name_mistake(got) or _name_mistake({first: got[first]})
    hint = hint or ("compare your sum with the parts, one by one: embeddings (word, position, token type, "
                    "LayerNorm), then per layer Q, K, V, O, the FFN's two Linear layers and two LayerNorms, "
                    "then the pooler; every Linear layer has a bias")
    raise CheckFailed(f"bert_parameter_count gives {got[first]:,} for {first.text()}; torch counts {want:,} "
                      f"({'+' if diff > 0 else ''}{diff:,}).\nHint: {hint}.")


# --------------------------------------------------------------------------- weight names
_LAYER = re.compile(r"bert\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
LAYER_LISTS = ((6, [0, 2, 4]), (6, [1, 3, 5]), (6, [0, 5]), (6, [3]), (12, [0, 2, 4, 7, 9, 11]), (4, [0, 1, 2, 3]))


def _marked_state(n_layers: int) -> dict[str, torch.Tensor]:
    """A stand-in BertForMaskedLM state dict: every teacher tensor is one number, its own index."""
    from transformers import BertConfig, BertForMaskedLM

    with torch.device("meta"):
        names = list(BertForMaskedLM(BertConfig(num_hidden_layers=n_layers)).state_dict())
    return {name: torch.tensor([float(i)]) for i, name in enumerate(names)}


@lru_cache(maxsize=None)
def _copies(n_layers: int, layers: tuple[int, ...]) -> dict[str, str | None]:
    """Teacher layer weight -> the student weight distilbert_state_dict copies it to (None: dropped).

    Found by following each marked tensor through the package's own renaming."""
    state = _marked_state(n_layers)
    student = distilbert_state_dict(state, list(layers))
    where = {int(v.item()): k for k, v in student.items() if k.startswith("distilbert.transformer.")}
    index = {name: i for i, name in enumerate(state)}
    return {name: where.get(index[name]) for name in state if _LAYER.fullmatch(name)}


def _name_hint(bert: str, layers: list[int], got, want: str | None) -> str:
    i, module, param = _LAYER.fullmatch(bert).groups()
    i = int(i)
    if want is None:
        return (f"teacher layer {i} is not in layers = {layers}: the student does not keep it, so there is "
                "no student weight: return None")
    k = layers.index(i)
    if got is None:
        return f"teacher layer {i} is kept: it is layers[{k}], so it becomes student layer {k}"
    if not isinstance(got, str):
        return "return the student weight's name as a str (or None for a dropped layer)"
    m = re.fullmatch(r"(.*?)\.?layer\.(\d+)\.(.+?)(?:\.(weight|bias))?", got)
    if not got.startswith("distilbert.transformer.layer."):
        return f"DistilBERT's layers live under distilbert.transformer.layer.<k>, here distilbert.transformer.layer.{k}"
    if m and not m.group(4):
        return f"keep the parameter's suffix: BERT's .{param} is the student's .{param}"
    if m and m.group(4) != param:
        return f"a {param} is copied to a {param}: keep the suffix as it is"
    if m and int(m.group(2)) != k:
        j = int(m.group(2))
        return (f"you kept the teacher's index {i}; the student's layer is the position of {i} in layers, "
                f"layers.index({i}) = {k}" if j == i else
                f"off by one: student layers count from 0, so layers[{k}] = {i} becomes layer {k}, not {j}"
                if abs(j - k) == 1 else f"teacher layer {i} is layers[{k}], so it becomes student layer {k}, not {j}")
    return (f"BERT's {module} is DistilBERT's {BERT_TO_DISTILBERT_LAYER.get(module, '?')}: "
            "look it up in BERT_TO_DISTILBERT_LAYER")


@one_thread
def check_student_weight_name(fn: Callable) -> None:
    """Check fn(bert_name, layers) -> str | None against the renaming of :func:`distilbert_state_dict`.

    Every weight and bias of every layer of BertForMaskedLM teachers of 4, 6 and 12 layers, with
    several lists of kept layers (one in two, the odd ones, first and last, one layer, all of them).
    """
    cases = 0
    for n_layers, layers in LAYER_LISTS:
        for bert, want in _copies(n_layers, tuple(layers)).items():
            cases += 1
            try:
                got = fn(bert, list(layers))
            except NotImplementedError:
                raise
            except Exception as e:
                hint = (" Hint: your function is called as student_weight_name(bert_name, layers)."
                        if isinstance(e, TypeError) else "")
                raise CheckFailed(f"student_weight_name raised {type(e).__name__} for bert_name={bert!r}, "
                                  f"layers={layers}: {e}.{hint}") from e
            if got != want:
                raise CheckFailed(f"student_weight_name({bert!r}, {layers}) returned {got!r}; expected {want!r}."
                                  f"\nHint: {_name_hint(bert, list(layers), got, want)}.")
    print(f"✓ student_weight_name matches distilbert_state_dict on {cases} teacher weights "
          f"(teachers of 4, 6 and 12 layers; {len(LAYER_LISTS)} choices of layers).")
