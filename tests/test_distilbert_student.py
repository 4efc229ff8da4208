"""DistilBERT's student: cut from the real teacher weight by weight, and computing what the teacher computes."""
import pytest
import torch
from transformers import BertConfig, BertModel, DistilBertForSequenceClassification

from kd_teach.distilbert.student import (BERT_TO_DISTILBERT_LAYER, check_student_layers, cut_bert_classifier,
                                         default_student_layers,
                                         distilbert_classifier, distilbert_config, init_distilbert_student,
                                         random_distilbert_student)
from kd_teach.engine.models import count_parameters, load_mlm_teacher, mlm_hidden_and_logits, model_inputs

SENTENCES = ["it 's a charming and often affecting journey .", "the [MASK] was far too long , and dull ."]


@pytest.fixture(scope="module")
def teacher():
    """The real packaged teacher with a (seeded, untrained) MLM head: the copy must be exact either way."""
    torch.manual_seed(0)
    return load_mlm_teacher().eval()


@pytest.fixture(scope="module")
def batch(tokenizer):
    return tokenizer(SENTENCES, padding=True, return_tensors="pt")


def test_default_layers_are_one_in_two():
    assert default_student_layers(6) == [0, 2, 4]
    assert default_student_layers(12) == [0, 2, 4, 7, 9, 11]  # the reference keeps the last layer
    assert default_student_layers(4) == [0, 2]


@pytest.mark.parametrize("layers", [[], [0, 0, 2], [2, 0], [0, 6], [-1, 2], [0.0, 2], [True, 2]])
def test_layer_lists_that_do_not_fit_are_refused(layers):
    with pytest.raises(ValueError, match=r"layers must be increasing, distinct teacher layer indices in \[0, 6\)"):
        check_student_layers(layers, 6)


def test_config_keeps_width_and_heads_drops_token_types(teacher):
    c = distilbert_config(teacher.config, 3)
    assert (c.n_layers, c.dim, c.n_heads, c.hidden_dim) == (3, 384, 12, 1536)
    assert c.vocab_size == teacher.config.vocab_size
    assert not hasattr(c, "type_vocab_size") or c.to_dict().get("type_vocab_size") is None


def test_student_layer_k_is_the_teacher_layer_it_came_from(teacher):
    layers = [0, 2, 4]
    student = init_distilbert_student(teacher, layers)
    s, t = student.state_dict(), teacher.state_dict()
    for k, i in enumerate(layers):
        for bert_name, distil_name in BERT_TO_DISTILBERT_LAYER.items():
            for p in ("weight", "bias"):
                assert torch.equal(s[f"distilbert.transformer.layer.{k}.{distil_name}.{p}"],
                                   t[f"bert.encoder.layer.{i}.{bert_name}.{p}"]), (k, i, bert_name, p)
    assert torch.equal(s["distilbert.embeddings.word_embeddings.weight"], t["bert.embeddings.word_embeddings.weight"])
    assert torch.equal(s["distilbert.embeddings.position_embeddings.weight"],
                       t["bert.embeddings.position_embeddings.weight"] + t["bert.embeddings.token_type_embeddings.weight"][0])
    assert torch.equal(s["vocab_transform.weight"], t["cls.predictions.transform.dense.weight"])
    assert torch.equal(s["vocab_layer_norm.bias"], t["cls.predictions.transform.LayerNorm.bias"])
    assert torch.equal(s["vocab_projector.bias"], t["cls.predictions.bias"])
    assert student.vocab_projector.weight is student.distilbert.embeddings.word_embeddings.weight  # tied
    assert student.config.kd_teacher_layers == layers
    assert student.distilbert.embeddings.word_embeddings.weight.data_ptr() != \
        teacher.bert.embeddings.word_embeddings.weight.data_ptr()  # a copy: training the student leaves the teacher


@pytest.mark.parametrize("layers", [[0, 2, 4], [1, 3, 5], [0, 5]])
def test_student_computes_the_teacher_layers_it_copied(teacher, batch, layers):
    """Hand-made reference: the teacher's embeddings, then the copied teacher layers in turn, then its MLM head."""
    student = init_distilbert_student(teacher, layers).eval()
    mask = batch["attention_mask"].bool()                                         # (B, L)
    additive = (1.0 - batch["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
    with torch.no_grad():
        out = student(**model_inputs(student, batch), output_hidden_states=True)
        h = teacher.bert.embeddings(input_ids=batch["input_ids"],
                                    token_type_ids=torch.zeros_like(batch["input_ids"]))  # (B, L, H)
        torch.testing.assert_close(out.hidden_states[0], h, atol=1e-5, rtol=1e-5)
        for k, i in enumerate(layers):
            h = teacher.bert.encoder.layer[i](h, attention_mask=additive)
            h = h[0] if isinstance(h, tuple) else h
            torch.testing.assert_close(out.hidden_states[k + 1][mask], h[mask], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.logits[mask], teacher.cls(h)[mask], atol=1e-4, rtol=1e-4)


def test_mlm_logits_only_where_asked(teacher, batch):
    where = torch.zeros_like(batch["attention_mask"], dtype=torch.bool)
    where[0, 1], where[1, 2] = True, True
    with torch.no_grad():
        hidden, some = mlm_hidden_and_logits(teacher, batch["input_ids"], batch["attention_mask"], where)
        _, every = mlm_hidden_and_logits(teacher, batch["input_ids"], batch["attention_mask"])
        full = teacher(**batch).logits
    assert some.shape == (2, teacher.config.vocab_size) and every.shape == full.shape
    torch.testing.assert_close(some, full[where], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(every, full, atol=1e-4, rtol=1e-4)
    assert hidden.shape == (*batch["input_ids"].shape, teacher.config.hidden_size)


def test_half_depth_student_of_the_offline_teacher_is_smaller(teacher):
    student = init_distilbert_student(teacher)
    assert student.config.n_layers == 3
    # the vocabulary (30,522 x 384 = 11.7M) is shared; each layer holds 1.77M
    assert count_parameters(teacher) - count_parameters(student) == pytest.approx(3 * 1.77e6, rel=0.01)


def test_paper_sizes_from_configs_alone():
    """BERT-base ~110M and its DistilBERT ~66M (Sanh et al. 2019, Table 3), counted without any download."""
    with torch.device("meta"):
        bert = BertModel(BertConfig())  # with its pooler, as the paper counts it
        student = DistilBertForSequenceClassification(distilbert_config(BertConfig(), 6))
    assert count_parameters(bert) == pytest.approx(110e6, rel=0.01)
    assert count_parameters(student.distilbert) == pytest.approx(66e6, rel=0.01)


def test_classifier_keeps_the_encoder_and_drops_token_types(teacher, batch):
    student = init_distilbert_student(teacher)
    clf = distilbert_classifier(student, num_labels=2, seed=0)
    for k, v in student.distilbert.state_dict().items():
        assert torch.equal(clf.distilbert.state_dict()[k], v), k
    assert "token_type_ids" in batch and "token_type_ids" not in model_inputs(clf, batch)
    with torch.no_grad():
        assert clf(**model_inputs(clf, batch)).logits.shape == (2, 2)


def test_only_a_bert_masked_lm_can_be_cut(teacher):
    student = init_distilbert_student(teacher)
    with pytest.raises(ValueError, match="teacher must be a BertForMaskedLM, got DistilBertForMaskedLM"):
        init_distilbert_student(student)
    with pytest.raises(ValueError, match=r"got \[0, 7\]"):
        init_distilbert_student(teacher, [0, 7])


def test_random_student_has_the_cut_students_shape_and_none_of_its_weights(teacher):
    """Table 4's ablation (Sanh et al. 2019): the same student, random weights, drawn from the seed alone."""
    cut, rand = init_distilbert_student(teacher), random_distilbert_student(teacher.config, 3, seed=0)
    state = rand.state_dict()
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in cut.state_dict().items()}
    assert rand.config.kd_teacher_layers is None
    name = "distilbert.transformer.layer.0.attention.q_lin.weight"
    assert not torch.equal(state[name], cut.state_dict()[name])
    assert torch.equal(state[name], random_distilbert_student(teacher.config, 3, seed=0).state_dict()[name])
    assert not torch.equal(state[name], random_distilbert_student(teacher.config, 3, seed=1).state_dict()[name])
    with pytest.raises(ValueError, match="n_layers must be >= 1, got 0"):
        random_distilbert_student(teacher.config, 0)


def test_bert_cut_computes_the_teacher_layers_it_kept(batch):
    """The same cut in BERT's classes (for TinyBERT's task distillation): teacher layer 0 and its embeddings
    give exactly the teacher's first hidden state; the head is new and seeded."""
    from kd_teach.engine.models import load_teacher

    teacher = load_teacher(seed=0).eval()
    student = cut_bert_classifier(teacher, [0, 3], seed=1).eval()
    assert student.config.num_hidden_layers == 2 and student.config.kd_teacher_layers == [0, 3]
    assert torch.equal(student.bert.encoder.layer[1].output.dense.weight, teacher.bert.encoder.layer[3].output.dense.weight)
    with torch.no_grad():
        t = teacher(**batch, output_hidden_states=True).hidden_states
        s = student(**batch, output_hidden_states=True).hidden_states
    assert torch.allclose(s[1], t[1], atol=1e-6)
    assert not torch.equal(student.classifier.weight, teacher.classifier.weight)
    with pytest.raises(ValueError, match=r"got \[6\]"):
        cut_bert_classifier(teacher, [6])
