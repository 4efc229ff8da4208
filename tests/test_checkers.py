"""What every exercise checker promises, one parametrised test per promise over all of them.

The package's own function passes with one line of success; a placeholder's NotImplementedError
comes through unchanged (the exercise notebooks rely on it); a wrong function fails with
CheckFailed and the thread count is left as it was. Each checker's list of named mistakes is
tested in its own file (tests/test_checks*.py).
"""
from __future__ import annotations

import pytest
import torch

import kd_teach.course.checks as checks
from kd_teach.course.checks.students import Size, bert_parameters
from kd_teach.distilbert.losses import L_ce, L_cos, L_mlm
from kd_teach.distilbert.masking import MaskingConfig, mask_tokens
from kd_teach.distilbert.student import BERT_TO_DISTILBERT_LAYER
from kd_teach.hinton.losses import distillation_loss, kd_loss
from kd_teach.temperature import entropy, soft_targets, softmax_with_temperature
from kd_teach.tinybert.losses import L_attn, L_embd, L_hidn, L_pred
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
