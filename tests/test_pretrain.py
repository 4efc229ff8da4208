"""Stages on the general corpus: the MLM teacher learns to fill blanks; DistilBERT's student learns from it."""
import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from kd_teach.distilbert.stages import distil_pretraining, masked_token_accuracy
from kd_teach.distilbert.student import init_distilbert_student


def test_prepared_teacher_fills_blanks_better_than_before(smoke_mlm_teacher):
    teacher, info = smoke_mlm_teacher
    assert info["accuracy_before"] < 0.02  # a fresh head: chance among 30,522 tokens
    assert info["accuracy_after"] > info["accuracy_before"] + 0.03
    assert info["steps"] > 0 and info["history"][-1]["loss"] < info["history"][0]["loss"]


def test_masked_accuracy_uses_the_same_blanks_every_time(smoke_mlm_teacher, smoke_corpus):
    teacher, info = smoke_mlm_teacher
    first = masked_token_accuracy(teacher, smoke_corpus)
    assert masked_token_accuracy(teacher, smoke_corpus) == first == pytest.approx(info["accuracy_after"])


@pytest.mark.parametrize("ablation", [{}, {"alpha_cos": 0.0}, {"alpha_ce": 0.0, "alpha_mlm": 0.0}])
def test_pretraining_distillation_trains_the_student_only(smoke_preset, smoke_mlm_teacher, smoke_corpus, ablation):
    teacher, _ = smoke_mlm_teacher
    before_teacher = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = init_distilbert_student(teacher)
    before_student = student.distilbert.transformer.layer[1].ffn.lin1.weight.clone()
    settings = replace(smoke_preset.distilbert, steps=3, **ablation)
    stage = distil_pretraining(settings, teacher, student, smoke_corpus, seed=0)
    assert stage.train.steps == 3
    terms = {k for k in stage.train.history[-1] if k.startswith("L_")}
    expected = {"L_ce", "L_mlm", "L_cos"} - {"L_" + k.split("_")[1] for k, v in ablation.items() if v == 0}
    assert terms == expected
    assert 0.0 <= stage.train.evals[-1]["masked_accuracy"] <= 1.0
    assert not torch.equal(student.distilbert.transformer.layer[1].ffn.lin1.weight, before_student)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before_teacher[k]), k  # the teacher is frozen


@pytest.mark.slow
def test_prepare_teacher_command_reports_and_reuses_the_cache(smoke_mlm_teacher, tmp_path):
    from kd_teach.distilbert.stages import PROBE_SENTENCES

    record = tmp_path / "mlm_teacher.json"
    done = subprocess.run([sys.executable, "-m", "kd_teach.engine.cli", "prepare-teacher", "mlm", "--preset", "smoke",
                           "--record", str(record)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MLM teacher (cached)" in done.stdout and "before" in done.stdout and "after" in done.stdout  # no training
    info = json.loads((__import__("pathlib").Path(smoke_mlm_teacher[1]["path"]).parent / "teacher.json").read_text())
    assert f"{info['accuracy_after']:.4f}" in done.stdout
    assert all(f"{sentence}  ->  " in done.stdout for sentence in PROBE_SENTENCES)  # its top-5 guesses, shown
    saved = json.loads(record.read_text())
    assert saved["accuracy_after"] == info["accuracy_after"] and saved["recipe"]["steps"] == info["steps"]
    assert saved["curve"][-1]["masked_accuracy"] == info["accuracy_after"]
    assert set(saved["top5"]) == set(PROBE_SENTENCES) and all(len(t) == 5 for t in saved["top5"].values())


def test_top_predictions_are_soft_targets_at_T(smoke_mlm_teacher, tokenizer):
    from kd_teach.distilbert.stages import top_predictions

    teacher, _ = smoke_mlm_teacher
    sentence = "the [MASK] was far too long and [MASK] ."
    at = {T: top_predictions(teacher, tokenizer, sentence, k=5, T=T) for T in (1.0, 2.0, 5.0)}
    assert len(at[1.0]) == 2 and all(len(blank) == 5 for blank in at[1.0])  # one list per [MASK]
    for blank in range(2):
        probs = {T: [p for _, p in at[T][blank]] for T in at}
        assert probs[1.0] == sorted(probs[1.0], reverse=True)
        assert [t for t, _ in at[1.0][blank]] == [t for t, _ in at[5.0][blank]]  # same ranking at any T
        assert sum(probs[5.0]) < sum(probs[2.0]) < sum(probs[1.0]) <= 1.0       # mass spreads as T grows
    with pytest.raises(ValueError, match=r"sentence must contain \[MASK\]"):
        top_predictions(teacher, tokenizer, "no blank here .")


@pytest.mark.parametrize("restrict", [True, False])
def test_the_stage_fast_path_gives_the_taught_triple_loss(smoke_preset, smoke_mlm_teacher, smoke_corpus, restrict):
    """The stage computes MLM logits only at the N positions its losses read, as (1, N, vocab); the loss
    must be distilbert_loss on the full (batch, seq, vocab) logits of the same masked batch."""
    from kd_teach.distilbert.losses import distilbert_loss
    from kd_teach.distilbert.masking import DynamicMasker
    from kd_teach.distilbert.stages import triple_loss_fn
    from kd_teach.engine.models import mlm_hidden_and_logits

    teacher, _ = smoke_mlm_teacher
    teacher.eval()
    student = init_distilbert_student(teacher).eval()
    settings = replace(smoke_preset.distilbert, restrict_ce_to_mask=restrict)
    masker = DynamicMasker.from_tokenizer(smoke_corpus.tokenizer, smoke_corpus.counts, smoothing=settings.smoothing)
    batch = next(iter(smoke_corpus.heldout_loader(4)))
    torch.manual_seed(0)
    loss, terms = triple_loss_fn(settings, teacher, masker)(student, batch)
    torch.manual_seed(0)                                                     # the same masks
    ids, labels = masker(batch["input_ids"], batch["attention_mask"])
    with torch.no_grad():
        h_t, z_t = mlm_hidden_and_logits(teacher, ids, batch["attention_mask"])   # (B, L, H), (B, L, V)
        h_s, z_s = mlm_hidden_and_logits(student, ids, batch["attention_mask"])
    full, full_terms = distilbert_loss(z_s, z_t, labels, h_s, h_t, batch["attention_mask"], T=settings.T,
                                       alpha_ce=settings.alpha_ce, alpha_mlm=settings.alpha_mlm,
                                       alpha_cos=settings.alpha_cos, restrict_ce_to_mask=restrict, return_terms=True)
    assert set(terms) == set(full_terms) == {"L_ce", "L_mlm", "L_cos"}
    for k in terms:
        assert terms[k] == pytest.approx(full_terms[k], rel=1e-4, abs=1e-6), k
    assert loss.item() == pytest.approx(full.item(), rel=1e-4)
