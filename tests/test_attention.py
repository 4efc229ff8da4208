"""Tests for kd_teach.tinybert.attention: pre-softmax scores from hooks, checked against the real model's attention."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, BertConfig, BertForSequenceClassification

from kd_teach.course.attention_view import attention_maps
from kd_teach.engine.models import resolve_teacher
from kd_teach.tinybert.attention import capture_attention_scores, layer_outputs
from kd_teach.tinybert.losses import scores_to_probs

SENTENCES = ["a gorgeous , witty , seductive movie .", "dull", "the acting is fine but the story never takes off ."]


@pytest.fixture(scope="module")
def eager_teacher():
    return AutoModel.from_pretrained(resolve_teacher(None), attn_implementation="eager").eval()


def test_scores_softmax_to_what_the_model_returns(eager_teacher, tokenizer):
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    with torch.no_grad():
        attentions = eager_teacher(**batch, output_attentions=True).attentions       # 6 x (B, H, L, L)
        out = layer_outputs(eager_teacher, batch, range(1, 7))
    assert len(out.hidden_states) == 7 and out.logits is None
    for m in range(1, 7):
        scores = out.scores[m]
        assert scores.shape == attentions[m - 1].shape == (3, 12, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
        torch.testing.assert_close(scores_to_probs(scores, batch["attention_mask"]), attentions[m - 1],
                                   atol=1e-5, rtol=1e-4)
    assert out.scores[1].min() < -1                                                # real negative scores exist


def test_hooks_work_with_sdpa_and_pass_gradients(tokenizer):
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=96)
    torch.manual_seed(0)
    student = BertForSequenceClassification(config)                               # default (sdpa) attention
    batch = dict(tokenizer(SENTENCES, padding=True, return_tensors="pt"))
    out = layer_outputs(student, batch, [2])
    assert set(out.scores) == {2} and out.logits.shape == (3, 2)
    out.scores[2].sum().backward()
    assert student.bert.encoder.layer[1].attention.self.query.weight.grad.abs().sum() > 0
    assert not student.bert.encoder.layer[1].attention.self.query._forward_hooks   # hooks removed


def test_bad_layers_and_models():
    config = BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=12, intermediate_size=48)
    with pytest.raises(ValueError, match=r"layers must be in 1..2 \(the model's layers\), got \[0, 1\]"):
        with capture_attention_scores(BertForSequenceClassification(config), [0, 1]):
            pass
    with pytest.raises(ValueError, match=r"model must be a BERT"):
        with capture_attention_scores(torch.nn.Linear(2, 2), [1]):
            pass


def test_attention_explorer_redraws_what_the_widgets_choose(eager_teacher, tokenizer):
    from kd_teach.course.attention_view import AttentionExplorer, special_token_share
    from kd_teach.tinybert.losses import L_attn
    from kd_teach.tinybert.mapping import layer_mapping

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=96)
    torch.manual_seed(0)
    student = BertForSequenceClassification(config).eval()
    explorer = AttentionExplorer(eager_teacher, student, tokenizer, SENTENCES, layer_mapping(2, 6))
    first, chart = explorer.teacher_map.clone(), bytes(explorer.chart.value)
    explorer.layer.value, explorer.head.value = 2, 5                       # student layer 2 <-> teacher layer 6
    tokens, scores, _ = attention_maps(eager_teacher, tokenizer, SENTENCES[0])
    torch.testing.assert_close(explorer.teacher_map, scores[6][5])
    assert not torch.equal(explorer.teacher_map, first) and bytes(explorer.chart.value) != chart
    assert explorer.tokens == tokens and explorer.tokens[0] == "[CLS]"
    explorer.view.value = "probs"
    torch.testing.assert_close(explorer.student_map.sum(-1), torch.ones(len(tokens)))
    assert explorer.loss == pytest.approx(
        L_attn(explorer.student_map[None, None], explorer.teacher_map[None, None], on="probs").item())
    explorer.sentence.value = SENTENCES[1]                                 # "dull": [CLS] dull [SEP]
    assert explorer.tokens == ["[CLS]", "dull", "[SEP]"] and explorer.teacher_map.shape == (3, 3)
    share = special_token_share(eager_teacher, tokenizer, SENTENCES)
    assert share["[SEP]"].shape == share["[CLS]"].shape == (6, 12)
    assert bool(((share["[SEP]"] + share["[CLS]"]) <= 1 + 1e-5).all())

