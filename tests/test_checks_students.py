"""Tests for kd_teach.course.checks.students: right answers pass, each usual mistake is named in words.

The wrong implementations are mistakes a learner makes when counting BERT's parameters by hand
or renaming its weights for DistilBERT's student (Sanh et al. 2019, Section 3).
"""
from __future__ import annotations

import pytest

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.students import (SIZES, bert_parameters, check_bert_parameter_count,
                                             check_student_weight_name)
from kd_teach.distilbert.student import BERT_TO_DISTILBERT_LAYER

# --------------------------------------------------------------------------- parameter counts


def count(vocab, hidden, layers, ffn, max_positions, type_vocab, *, biases=True, layer_norms=True, emb_norm=True,
          positions=True, types=True, pooler=True, tied_decoder=False, out_proj=True, ffn_out=True, extra_layers=0):
    """BERT's count by formula; each flag turned the wrong way is one usual mistake."""
    b, h = int(biases), hidden
    embeddings = vocab * h + positions * max_positions * h + types * type_vocab * h + emb_norm * layer_norms * 2 * h
    attention = (3 + out_proj) * (h * h + b * h)
    feed_forward = h * ffn + b * ffn + ffn_out * (ffn * h + b * h)
    layer = attention + feed_forward + layer_norms * 2 * 2 * h
    return (embeddings + (layers + extra_layers) * layer + pooler * (h * h + b * h)
            + tied_decoder * vocab * h)


def by_parts(vocab, hidden, layers, ffn, max_positions, type_vocab):
    """The same count written another way: Linear layers as (in + 1) x out."""
    linear = lambda i, o: (i + 1) * o  # noqa: E731
    norm = 2 * hidden
    layer = 4 * linear(hidden, hidden) + linear(hidden, ffn) + linear(ffn, hidden) + 2 * norm
    return (vocab + max_positions + type_vocab) * hidden + norm + layers * layer + linear(hidden, hidden)


def test_sizes_are_the_real_models():
    assert {s.name: bert_parameters(s) for s in SIZES[:3]} == {
        "BERT-base": 109_482_240, "all-MiniLM-L6-v2": 22_713_216, "TinyBERT4": 14_350_248}


@pytest.mark.parametrize("fn", [count, by_parts, lambda **kw: float(count(**kw))], ids=["flags", "parts", "float"])
def test_right_counts_pass(fn, capsys):
    check_bert_parameter_count(fn)
    assert capsys.readouterr().out.startswith("✓ bert_parameter_count matches torch's count of BertModel for 5 sizes")


COUNT_WRONG = [
    (dict(biases=False), "forgot the biases"),
    (dict(layer_norms=False), "forgot the LayerNorms (weight and bias each: one after the embeddings"),
    (dict(emb_norm=False), "forgot the LayerNorm after the embeddings"),
    (dict(positions=False), "forgot the position embeddings"),
    (dict(types=False), "forgot the token-type (segment) embeddings"),
    (dict(pooler=False), "forgot the pooler"),
    (dict(tied_decoder=True), "tied to the word embeddings"),
    (dict(out_proj=False), "forgot the attention's output projection O"),
    (dict(ffn_out=False), "counted one FFN matrix only"),
    (dict(extra_layers=-1), "one layer too few"),
    (dict(extra_layers=1), "one layer too many"),
    (dict(positions=False, types=False), "forgot the position embeddings (max_positions x hidden) and forgot the "
                                         "token-type"),
    (dict(biases=False, types=False), "forgot the biases (every Linear layer has one: Q, K, V, O, both FFN layers, "
                                      "the pooler) and forgot the token-type"),
]


@pytest.mark.parametrize("mistake, phrase", COUNT_WRONG, ids=[p[:30] for _, p in COUNT_WRONG])
def test_wrong_counts_are_named(mistake, phrase, capsys):
    with pytest.raises(CheckFailed) as info:
        check_bert_parameter_count(lambda **kw: count(**kw, **mistake))
    message = str(info.value)
    assert phrase in message, message
    assert "for BERT-base (vocab=30522, hidden=768, layers=12" in message and "torch counts 109,482,240" in message
    assert "✓" not in capsys.readouterr().out


def test_an_unknown_mistake_gets_the_parts_to_compare():
    with pytest.raises(CheckFailed, match="compare your sum with the parts"):
        check_bert_parameter_count(lambda **kw: count(**kw) + 7)


def test_counts_that_are_not_whole_numbers_are_refused():
    with pytest.raises(CheckFailed, match="must be a whole number"):
        check_bert_parameter_count(lambda **kw: count(**kw) / 1e6)
    with pytest.raises(CheckFailed, match="must be a whole number"):
        check_bert_parameter_count(lambda **kw: None)


def test_a_wrong_signature_is_explained():
    with pytest.raises(CheckFailed, match=r"called as bert_parameter_count\(vocab, hidden, layers"):
        check_bert_parameter_count(lambda vocab, hidden, n_layers, ffn, max_positions, type_vocab: 0)


# --------------------------------------------------------------------------- weight names
def rename(bert_name, layers, *, index=lambda layers, i: layers.index(i), prefix="distilbert.transformer.layer.",
           suffix=True, table=BERT_TO_DISTILBERT_LAYER, keep_dropped=False):
    """The right renaming; each keyword turned the wrong way is one usual mistake."""
    _, _, _, i, *module, param = bert_name.split(".")
    i, module = int(i), ".".join(module)
    if i not in layers and not keep_dropped:
        return None
    k = index(layers, i) if i in layers else i
    return f"{prefix}{k}.{table.get(module, module)}" + (f".{param}" if suffix else "")


def test_right_renaming_passes(capsys):
    check_student_weight_name(rename)
    assert capsys.readouterr().out.startswith("✓ student_weight_name matches distilbert_state_dict on 640 teacher")


NAME_WRONG = [
    (dict(index=lambda layers, i: i), "you kept the teacher's index 2; the student's layer is the position of 2 "
                                      "in layers, layers.index(2) = 1"),
    (dict(index=lambda layers, i: layers.index(i) + 1), "off by one: student layers count from 0"),
    (dict(index=lambda layers, i: len(layers) - 1 - layers.index(i)),  # the order reversed
     "teacher layer 0 is layers[0], so it becomes student layer 0, not 2"),
    (dict(keep_dropped=True), "teacher layer 1 is not in layers = [0, 2, 4]"),
    (dict(prefix="bert.encoder.layer."), "DistilBERT's layers live under distilbert.transformer.layer.<k>"),
    (dict(suffix=False), "keep the parameter's suffix: BERT's .weight"),
    (dict(table={}), "BERT's attention.self.query is DistilBERT's attention.q_lin"),
    (dict(table={**BERT_TO_DISTILBERT_LAYER, "output.dense": "ffn.lin1", "intermediate.dense": "ffn.lin2"}),
     "BERT's intermediate.dense is DistilBERT's ffn.lin1"),
]


@pytest.mark.parametrize("mistake, phrase", NAME_WRONG, ids=[p[:30] for _, p in NAME_WRONG])
def test_wrong_renamings_are_named(mistake, phrase):
    with pytest.raises(CheckFailed) as info:
        check_student_weight_name(lambda name, layers: rename(name, layers, **mistake))
    assert phrase in str(info.value), str(info.value)
    assert "student_weight_name('bert.encoder.layer." in str(info.value)


def test_a_kept_layer_must_not_come_back_as_none():
    def only_first(name, layers):
        return rename(name, layers) if ".layer.0." in name else None

    with pytest.raises(CheckFailed, match=r"teacher layer 2 is kept: it is layers\[1\], so it becomes student layer 1"):
        check_student_weight_name(only_first)


def test_a_name_must_be_a_string():
    with pytest.raises(CheckFailed, match="as a str"):
        check_student_weight_name(lambda name, layers: 0 if rename(name, layers) else None)


def test_errors_name_the_input():
    with pytest.raises(CheckFailed, match=r"raised KeyError for bert_name='bert.encoder.layer.0.attention.self.query"):
        check_student_weight_name(lambda name, layers: {}[name])
