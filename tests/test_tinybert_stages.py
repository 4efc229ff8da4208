"""TinyBERT's stages on the real teacher, corpus and SST-2 rows: projections, compatibility, the three steps."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from transformers import BertModel

from kd_teach.engine.models import build_student, load_encoder
from kd_teach.engine.presets import StudentSize
from kd_teach.tinybert.attention import layer_outputs
from kd_teach.tinybert.losses import intermediate_loss
from kd_teach.tinybert.stages import (Projections, check_compatible, general_distillation, new_distiller,
                                      task_distillation_step1, task_distillation_step2)


@pytest.fixture(scope="module")
def encoder():
    return load_encoder().eval()


@pytest.fixture()
def settings(smoke_preset):
    return smoke_preset.tinybert


def test_projections_shared_or_one_per_layer():
    shared, per_layer = Projections(8, 16, 3, shared=True), Projections(8, 16, 3, shared=False)
    assert len(list(shared.parameters())) == 1 and shared[0] is shared[3]
    assert len(list(per_layer.parameters())) == 4 and per_layer[0] is not per_layer[1]
    assert per_layer[2].shape == (8, 16)
    with pytest.raises(IndexError, match=r"layer must be in 0..3, got 4"):
        per_layer[4]


def test_incompatible_students_are_refused_with_a_reason(encoder, settings):
    four_heads = build_student(encoder.config, StudentSize(layers=2, hidden=96, heads=4, ffn=384))
    with pytest.raises(ValueError, match=r"same number of attention heads.*got 4 \(student\) and 12 \(teacher\)"):
        check_compatible(four_heads, encoder, settings)
    four_layers = build_student(encoder.config, StudentSize(layers=4, hidden=96, heads=12, ffn=384))
    with pytest.raises(ValueError, match=r"a 4-layer student from a 6-layer teacher is not uniform"):
        check_compatible(four_layers, encoder, settings)
    assert check_compatible(four_layers, encoder, replace(settings, mapping=(2, 3, 5, 6))) == [0, 2, 3, 5, 6]


def _batch(tokenizer, sentences, **kwargs):
    return dict(tokenizer(sentences, padding=True, truncation=True, max_length=64, return_tensors="pt", **kwargs))


@pytest.mark.parametrize("share", [True, False])
def test_intermediate_loss_trains_student_and_projections_only(encoder, tokenizer, smoke_data, settings, share):
    distiller = new_distiller(encoder.config, replace(settings, share_projection=share), seed=0)
    g = check_compatible(distiller.student, encoder, settings)
    batch = _batch(tokenizer, smoke_data.train_raw["sentence"][:8])
    with torch.no_grad():
        t = layer_outputs(encoder, batch, g[1:])
    s = layer_outputs(distiller.student, batch, range(1, len(g)))
    loss, terms = intermediate_loss(s, t, g, distiller.projections, batch["attention_mask"])
    assert set(terms) == {"L_embd", "L_hidn", "L_attn"} and loss.item() == pytest.approx(sum(terms.values()), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in distiller.projections.parameters())
    assert distiller.student.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert distiller.student.classifier.weight.grad is None          # no prediction loss in this step
    assert all(p.grad is None for p in encoder.parameters())


def test_a_dropped_term_leaves_the_loss_but_is_still_reported(encoder, tokenizer, smoke_data, settings):
    """The paper's Table 6 rows: step 1 without L_embd, L_hidn or L_attn."""
    distiller = new_distiller(encoder.config, settings, seed=0)
    g = check_compatible(distiller.student, encoder, settings)
    batch = _batch(tokenizer, smoke_data.train_raw["sentence"][:8])
    with torch.no_grad():
        t = layer_outputs(encoder, batch, g[1:])
    s = layer_outputs(distiller.student, batch, range(1, len(g)))
    for dropped in ("L_embd", "L_hidn", "L_attn"):
        kept = tuple(k for k in ("L_embd", "L_hidn", "L_attn") if k != dropped)
        loss, terms = intermediate_loss(s, t, g, distiller.projections, batch["attention_mask"], terms=kept)
        assert set(terms) == {"L_embd", "L_hidn", "L_attn"} and terms[dropped] > 0
        assert loss.item() == pytest.approx(sum(terms[k] for k in kept), rel=1e-5)
    with pytest.raises(ValueError, match=r"terms must be a non-empty subset of .*got \('L_pred',\)"):
        intermediate_loss(s, t, g, distiller.projections, batch["attention_mask"], terms=("L_pred",))


def test_a_longer_general_distillation_passes_over_the_corpus_again(smoke_corpus):
    from kd_teach.tinybert.stages import corpus_sample

    chunks = smoke_corpus.train
    ids = lambda ds: ds.with_format(None)["input_ids"]                     # noqa: E731
    short = corpus_sample(chunks, 10, seed=3)
    assert ids(short) == ids(chunks.shuffle(seed=3).select(range(10)))     # within one pass: as before
    longer = corpus_sample(chunks, 2 * len(chunks) + 5, seed=3)
    assert len(longer) == 2 * len(chunks) + 5 and ids(longer)[:10] == ids(short)   # starts as the shorter one
    assert sorted(map(tuple, ids(longer)[:len(chunks)])) == sorted(map(tuple, ids(chunks)))   # whole passes
    with pytest.raises(ValueError, match="n >= 1"):
        corpus_sample(chunks, 0)


def test_intermediate_loss_is_unchanged_by_extra_padding(encoder, tokenizer, smoke_data, settings):
    distiller = new_distiller(encoder.config, settings, seed=0).eval()
    g = check_compatible(distiller.student, encoder, settings)
    sentences = smoke_data.train_raw["sentence"][:6]

    def loss(**kwargs):
        batch = _batch(tokenizer, sentences, **kwargs)
        with torch.no_grad():
            t, s = layer_outputs(encoder, batch, g[1:]), layer_outputs(distiller.student, batch, range(1, len(g)))
            return intermediate_loss(s, t, g, distiller.projections, batch["attention_mask"])
    tight, (padded, padded_terms) = loss(), loss(pad_to_multiple_of=64)
    for k, v in tight[1].items():
        assert padded_terms[k] == pytest.approx(v, rel=1e-4), k


def test_general_distillation_lowers_the_intermediate_losses(encoder, smoke_corpus, settings):
    distiller = new_distiller(encoder.config, settings, seed=0)
    stage = general_distillation(replace(settings, general_steps=20, general_batch_size=8), encoder, distiller,
                                 smoke_corpus, seed=0)
    history = stage.train.history
    assert stage.train.steps == 20 and {"L_embd", "L_hidn", "L_attn"} <= history[-1].keys()
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["L_hidn"] < 0.8 * history[0]["L_hidn"] and history[-1]["L_embd"] < 0.8 * history[0]["L_embd"]
    assert stage.train.evals[-1]["heldout_loss"] > 0


def test_general_tinybert_is_a_transformers_model(smoke_general_tinybert):
    distiller, info = smoke_general_tinybert
    encoder = BertModel.from_pretrained(info["path"])
    student_encoder = distiller.student.bert.state_dict()
    for name, weight in encoder.state_dict().items():
        torch.testing.assert_close(weight, student_encoder[name], msg=name)
    assert info["steps"] > 0 and info["heldout"]["heldout_loss"] > 0


def test_task_distillation_step1_then_step2(smoke_preset, smoke_teacher, smoke_data, smoke_general_tinybert, settings,
                                            tmp_path):
    from kd_teach.engine.cache import general_tinybert

    teacher, _ = smoke_teacher
    distiller, info = general_tinybert(smoke_preset, log=lambda *_: None)      # a fresh copy from the cache
    assert info["cached"]
    train_set = smoke_data.train.select(range(96))
    head_before = distiller.student.classifier.weight.clone()
    layer_before = distiller.student.bert.encoder.layer[0].output.dense.weight.clone()
    step1 = task_distillation_step1(settings, teacher, distiller, train_set, smoke_data.tokenizer, 32, seed=0,
                                    checkpoint_dir=tmp_path / "step1")
    assert step1.train.steps == 3 and {"L_embd", "L_hidn", "L_attn"} <= step1.train.history[-1].keys()
    assert torch.equal(distiller.student.classifier.weight, head_before)          # step 1 leaves the head alone
    assert not torch.equal(distiller.student.bert.encoder.layer[0].output.dense.weight, layer_before)
    step2 = task_distillation_step2(settings, teacher, distiller.student, smoke_data, train_set, 32, seed=0)
    assert not torch.equal(distiller.student.classifier.weight, head_before)
    assert step2.train.evals == [] and "loss" in step2.train.history[-1]          # dev is not looked at
    # resuming a finished step is a no-op that returns the same record
    again = task_distillation_step1(settings, teacher, distiller, train_set, smoke_data.tokenizer, 32, seed=0,
                                    checkpoint_dir=tmp_path / "step1")
    assert again.train.steps == 3 and again.train.history == step1.train.history
