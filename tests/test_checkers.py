"""What every exercise checker promises, one parametrised test per promise over all of them.

The package's own function passes with one line of success (where the package runs the exercise's rule
inside a larger function, the checker module's reference, which tests/test_checks_*.py hold to the
package); a placeholder's NotImplementedError
comes through unchanged (the exercise notebooks rely on it); a wrong function fails with
CheckFailed and the thread count is left as it was. Each checker's list of named mistakes is
tested in its own file (tests/test_checks*.py).
"""
from __future__ import annotations

import pytest
import torch

import kd_teach.course.checks as checks
from kd_teach.course.checks import augmentation, bootstrap, bugs, bugs_tinybert, deployment, leaderboard
from kd_teach.course.checks.students import Size, bert_parameters
from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm
from kd_teach.distilbert.masking import MaskingConfig, mask_tokens
from kd_teach.distilbert.student import BERT_TO_DISTILBERT_LAYER
from kd_teach.hinton.losses import distillation_loss, kd_loss
from kd_teach.temperature import entropy, soft_targets, softmax_with_temperature
from kd_teach.tinybert.augment import WordCandidates, sample_augmentations
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred, intermediate_loss
from kd_teach.tinybert.mapping import layer_mapping


def bert_corruption(ids, mask_token_id, vocab_size, generator=None):
    """The package's mask_tokens choosing every token (mask_prob = 1): only its 80/10/10 corruption remains."""
    masked, _ = mask_tokens(ids[None], torch.ones_like(ids)[None], torch.ones(vocab_size), mask_token_id,
                            [mask_token_id], MaskingConfig(mask_prob=1.0), generator)
    return masked[0]


def bert_parameter_count(vocab, hidden, layers, ffn, max_positions, type_vocab):
    """transformers' own BertModel of that size, counted by torch (heads do not change the count)."""
    return bert_parameters(Size("", vocab, hidden, layers, ffn, max_positions, type_vocab, heads=1))


def student_weight_name(bert_name, layers):
    """DistilBERT's name for a teacher layer's weight, from the package's table; None for a dropped layer."""
    _, _, _, i, *module, param = bert_name.split(".")
    if int(i) not in layers:
        return None
    return f"distilbert.transformer.layer.{layers.index(int(i))}.{BERT_TO_DISTILBERT_LAYER['.'.join(module)]}.{param}"


def general_distillation_loss(student, teacher, g, W, attention_mask):
    """The package's Eq. 11, the loss of general distillation's every step."""
    return intermediate_loss(student, teacher, g, W, attention_mask)[0]


def task_distillation_loss(step, student, teacher, g, W, batch, t=1.0):
    """The package's two steps: intermediate_loss, then L_pred."""
    if step not in (1, 2):
        raise ValueError(f"step must be 1 or 2, got {step}")
    if step == 1:
        return intermediate_loss(student, teacher, g, W, batch["attention_mask"])[0]
    return L_pred(student.logits, teacher.logits, t)


def replace_words(words, candidates, p, rng):
    """One draw of the package's sample_augmentations (Algorithm 1), as a list of words."""
    spans, start = [], 0
    for w in words:
        spans.append((start, start + len(w)))
        start += len(w) + 1
    wc = WordCandidates(" ".join(words), list(words), spans, {i: c for i, (_, c) in candidates.items()},
                        {i: s for i, (s, _) in candidates.items()})
    drawn = sample_augmentations(wc, 1, p, rng)            # [] when nothing changed (the original is dropped)
    new = list(words)
    for i, _, word, _ in (drawn[0].changes if drawn else []):
        new[i] = word
    return new


def half(fn):
    return lambda *args, **kwargs: fn(*args, **kwargs) / 2


CHECKERS = [  # (checker, the package's function, a wrong function, the name its success line starts with)
    (checks.check_softmax_with_temperature, softmax_with_temperature, lambda z, T=1.0, dim=-1: torch.softmax(z, dim),
     "softmax_with_temperature"),
    (checks.check_soft_targets, soft_targets, lambda z, T=1.0: torch.softmax(z, -1), "soft_targets"),
    (checks.check_entropy, entropy, lambda p, dim=-1: p.sum(dim), "entropy"),
    (checks.check_distillation_loss, distillation_loss, half(distillation_loss), "distillation_loss"),
    (checks.check_kd_loss, kd_loss, half(kd_loss), "kd_loss"),
    (checks.check_bert_parameter_count, bert_parameter_count, lambda **kw: 0, "bert_parameter_count"),
    (checks.check_student_weight_name, student_weight_name, lambda name, layers: name, "student_weight_name"),
    (checks.check_L_cos, L_cos, half(L_cos), "L_cos"),
    (checks.check_L_ce, L_ce, half(L_ce), "L_ce"),
    (checks.check_L_mlm, L_mlm, half(L_mlm), "L_mlm"),
    (checks.check_bert_corruption, bert_corruption, lambda ids, m, V, generator=None: ids.clone(), "bert_corruption"),
    (checks.check_L_hidn, L_hidn, half(L_hidn), "L_hidn"),
    (checks.check_L_hidn, L_embd, half(L_embd), "L_hidn"),      # one checker for Eqs. 8 and 9
    (checks.check_L_attn, L_attn, half(L_attn), "L_attn"),
    (checks.check_L_pred, L_pred, half(L_pred), "L_pred"),
    (checks.check_layer_mapping, lambda M, N: layer_mapping(M, N), lambda M, N: list(range(M + 1)), "layer_mapping"),
    (checks.check_general_distillation_loss, general_distillation_loss, half(general_distillation_loss),
     "general_distillation_loss"),
    (checks.check_task_distillation_loss, task_distillation_loss, half(task_distillation_loss),
     "task_distillation_loss"),
    (checks.check_word_candidates, augmentation.word_candidates,
     lambda words, tokenize, mlm, glove, K: {i: ("glove", glove(w, K)) for i, w in enumerate(words) if w.isalpha()},
     "word_candidates"),
    (checks.check_replace_words, replace_words, lambda words, candidates, p, rng: list(words), "replace_words"),
    (checks.check_pick_within_budget, leaderboard.pick_within_budget,
     lambda rows, budget_ms: max(rows, key=lambda r: r["accuracy"])["name"], "pick_within_budget"),
    (checks.check_paired_bootstrap, bootstrap.paired_bootstrap, lambda a, b, n_resamples=10_000, seed=0: (0.0, 0.0),
     "paired_bootstrap"),
    (checks.check_make_teacher, bugs.make_teacher,
     lambda body, width, classes, X, y: torch.nn.Sequential(body, torch.nn.Linear(width, classes)).eval(),
     "make_teacher"),
    (checks.check_kd_step, bugs.kd_step,
     lambda d, opt, x, y, T=4.0, alpha=0.5, beta=0.5: bugs.kd_step(d, opt, x, y, 1.0, alpha, beta), "kd_step"),
    (checks.check_transfer_loss, bugs.transfer_loss,
     lambda zs, zt, y, labelled, T=4.0, alpha=0.5, beta=0.5: kd_loss(zs, zt, y, alpha, beta, T), "transfer_loss"),
    (checks.check_hidden_states_loss, bugs_tinybert.hidden_states_loss, half(bugs_tinybert.hidden_states_loss),
     "hidden_states_loss"),
    (checks.check_attention_loss, L_attn, lambda A_S, A_T, am: ((A_S - A_T) ** 2).mean(), "attention_loss"),
    (checks.check_same_runtime_speedups, deployment.same_runtime_speedups, deployment._speedups_against_torch,
     "same_runtime_speedups"),
    (checks.check_int8_accuracy_loss, deployment.int8_accuracy_loss, deployment._loss_flipped, "int8_accuracy_loss"),
    (checks.check_pick_deployment, deployment.pick_deployment, lambda rows, budget_ms: ("teacher", "torch"),
     "pick_deployment"),
]
IDS = [f"{c.__name__}-{ref.__name__}" if ref.__name__ != "<lambda>" else c.__name__ for c, ref, _, _ in CHECKERS]


def test_every_checker_is_listed_here():
    exported = {n for n in checks.__all__ if n.startswith("check_") and n != "check_guess"}  # check_guess: numbers
    assert {c.__name__ for c, *_ in CHECKERS} == exported


@pytest.mark.parametrize("check, reference, wrong, name", CHECKERS, ids=IDS)
def test_the_package_passes_with_one_line(check, reference, wrong, name, capsys):
    assert check(reference) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"✓ {name} ")


@pytest.mark.parametrize("check, reference, wrong, name", CHECKERS, ids=IDS)
def test_a_placeholder_comes_through_unchanged(check, reference, wrong, name):
    error = NotImplementedError("write the body of it here")

    def placeholder(*args, **kwargs):
        raise error

    with pytest.raises(NotImplementedError) as info:
        check(placeholder)
    assert info.value is error


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("check, reference, wrong, name", CHECKERS, ids=IDS)
def test_a_wrong_function_fails_and_the_thread_count_is_restored(check, reference, wrong, name, capsys):
    threads = torch.get_num_threads()
    with pytest.raises(checks.CheckFailed):
        check(wrong)
    assert "✓" not in capsys.readouterr().out       # no success line before a failure
    assert torch.get_num_threads() == threads
