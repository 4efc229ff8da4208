"""Tests for kd_teach.course.checks.distilbert: correct rewrites pass, each usual
mistake is named in words (Sanh et al. 2019, Section 2; Devlin et al. 2019, Section 3.1)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.distilbert import check_L_ce, check_L_cos, check_L_mlm, check_bert_corruption


NAMES = {check_L_cos: "L_cos", check_L_ce: "L_ce", check_L_mlm: "L_mlm", check_bert_corruption: "corruption"}


# --------------------------------------------------------------------------- correct rewrites
def cos_solution(h_s, h_t, am):  # as in solutions/04
    real = am.bool()
    s, t = h_s[real], h_t[real].detach()
    return (1 - (s * t).sum(-1) / (s.norm(dim=-1) * t.norm(dim=-1))).mean()


def cos_multiplied(h_s, h_t, am):  # padding zeroed by multiplication, cosine_similarity
    cos = F.cosine_similarity(h_s, h_t.detach(), dim=-1)        # (B, S)
    return ((1 - cos) * am).sum() / am.sum()


def ce_solution(s, t, mask, T):
    log_p = torch.log_softmax(t[mask].detach() / T, -1)
    log_q = torch.log_softmax(s[mask] / T, -1)
    return T**2 * (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def ce_kl_div(s, t, mask, T):
    return F.kl_div(F.log_softmax(s[mask] / T, -1), F.log_softmax(t[mask] / T, -1), reduction="batchmean",
                    log_target=True) * T * T


def mlm_solution(z, y):
    keep = y != -100
    log_q = torch.log_softmax(z[keep], -1)
    return -log_q.gather(-1, y[keep][:, None]).squeeze(-1).mean()


def corruption_solution(ids, mask_token_id, vocab_size, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)
    out = torch.where(u < 0.8, mask_token_id, ids)
    return torch.where((u >= 0.8) & (u < 0.9), random_ids, out)


def corruption_like_transformers(ids, mask_token_id, vocab_size, generator=None):  # DataCollatorForLanguageModeling
    out = ids.clone()
    masked = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool()
    out[masked] = mask_token_id
    random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & ~masked
    out[random] = torch.randint(vocab_size, ids.shape, generator=generator)[random]
    return out


CORRECT = [(check_L_cos, cos_solution), (check_L_cos, cos_multiplied),
           (check_L_ce, ce_solution), (check_L_ce, ce_kl_div),
           (check_L_mlm, mlm_solution), (check_L_mlm, lambda z, y: F.cross_entropy(z.transpose(1, 2), y)),
           (check_bert_corruption, corruption_solution), (check_bert_corruption, corruption_like_transformers)]


@pytest.mark.parametrize("check, fn", CORRECT, ids=[f"{NAMES[c]}-{f.__name__}" for c, f in CORRECT])
def test_correct_rewrites_pass(check, fn, capsys):
    check(fn)
    assert capsys.readouterr().out.startswith("✓")


# --------------------------------------------------------------------------- wrong implementations
def cos_rows(h_s, h_t):
    return (h_s * h_t).sum(-1) / (h_s.norm(dim=-1) * h_t.norm(dim=-1))  # (B, S)


def cos_all_positions(h_s, h_t, am):
    return (1 - cos_rows(h_s, h_t)).mean()


def cos_zeroed_padding(h_s, h_t, am):
    m = am[..., None]
    return (1 - F.cosine_similarity(h_s * m, h_t * m, dim=-1)).mean()


def cos_per_sentence(h_s, h_t, am):
    return (((1 - cos_rows(h_s, h_t)) * am).sum(1) / am.sum(1)).mean()


def cos_hidden_mean(h_s, h_t, am):
    real = am.bool()
    s, t = F.normalize(h_s[real], dim=-1), F.normalize(h_t[real], dim=-1)
    return (1 - (s * t).mean(-1)).mean()


def cos_dot(h_s, h_t, am):
    real = am.bool()
    return (1 - (h_s[real] * h_t[real]).sum(-1)).mean()


def cos_dot_all(h_s, h_t, am):  # two mistakes at once: only the probes can tell
    return (1 - (h_s * h_t).sum(-1) / 100).mean()


def cos_dot_half_normalised(h_s, h_t, am):  # the teacher normalised, the student not
    real = am.bool()
    return (1 - (h_s[real] * F.normalize(h_t[real], dim=-1)).sum(-1)).mean()


def kl_rows(s, t, Ts, Tt):  # (N,) KL at the selected rows, no T²
    log_p, log_q = torch.log_softmax(t / Tt, -1), torch.log_softmax(s / Ts, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def ce_all_positions(s, t, mask, T):
    return T * T * kl_rows(s, t, T, T).mean()


def ce_batchmean_3d(s, t, mask, T):  # mask multiplied in, then kl_div's batchmean divides by batch only
    m = mask[..., None]
    return T * T * F.kl_div(F.log_softmax(s / T, -1) * m, F.softmax(t / T, -1) * m, reduction="batchmean")


def ce_not_zero(s, t, mask, T):  # the unselected probe cannot tell, the zero probe can
    return ce_solution(s, t, mask, T) + 0.5


def mlm_all_positions(z, y):
    log_q = torch.log_softmax(z, -1)
    return -log_q.gather(-1, y.clamp(min=0)[..., None]).squeeze(-1).mean()


def mlm_over_all(z, y):
    keep = y != -100
    nll = -torch.log_softmax(z, -1).gather(-1, y.clamp(min=0)[..., None]).squeeze(-1)
    return (nll * keep).sum() / y.numel()


def mlm_probabilities(z, y):
    keep = y != -100
    return -torch.softmax(z[keep], -1).gather(-1, y[keep][:, None]).mean()


def mlm_no_minus(z, y):
    return -mlm_solution(z, y)


def mlm_gathers_minus_100(z, y):
    return -torch.log_softmax(z, -1).gather(-1, y[..., None]).mean()


def corruption_overlapping(ids, mask_token_id, vocab_size, generator=None):
    out = torch.where(torch.rand(ids.shape, generator=generator) < 0.8, mask_token_id, ids)
    random = torch.rand(ids.shape, generator=generator) < 0.1
    return torch.where(random, torch.randint(vocab_size, ids.shape, generator=generator), out)


def corruption_too_few_random(ids, mask_token_id, vocab_size, generator=None):
    masked = torch.rand(ids.shape, generator=generator) < 0.8
    random = (torch.rand(ids.shape, generator=generator) < 0.1) & ~masked
    out = torch.where(masked, mask_token_id, ids)
    return torch.where(random, torch.randint(vocab_size, ids.shape, generator=generator), out)


def corruption_half(ids, mask_token_id, vocab_size, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    out = torch.where(u < 0.5, mask_token_id, ids)
    return torch.where((u >= 0.5) & (u < 0.75), torch.randint(vocab_size, ids.shape, generator=generator), out)


def corruption_no_keep(ids, mask_token_id, vocab_size, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    return torch.where(u < 0.8, mask_token_id, torch.randint(vocab_size, ids.shape, generator=generator))


def corruption_global_rng(ids, mask_token_id, vocab_size, generator=None):
    return corruption_solution(ids, mask_token_id, vocab_size, None)


def corruption_first_80(ids, mask_token_id, vocab_size, generator=None):
    n = len(ids)
    out = ids.clone()
    out[: int(0.8 * n)] = mask_token_id
    out[int(0.8 * n): int(0.9 * n)] = 500
    return out


def corruption_in_place(ids, mask_token_id, vocab_size, generator=None):
    ids[torch.rand(ids.shape, generator=generator) < 0.8] = mask_token_id
    return ids


def corruption_few_ids(ids, mask_token_id, vocab_size, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    out = torch.where(u < 0.8, mask_token_id, ids)
    return torch.where((u >= 0.8) & (u < 0.9), torch.randint(10, ids.shape, generator=generator), out)


def corruption_out_of_range(ids, mask_token_id, vocab_size, generator=None):
    u = torch.rand(ids.shape, generator=generator)
    out = torch.where(u < 0.8, mask_token_id, ids)
    return torch.where((u >= 0.8) & (u < 0.9), torch.randint(vocab_size, vocab_size + 5, ids.shape,
                                                             generator=generator), out)


WRONG = [
    # L_cos
    (check_L_cos, cos_all_positions, "the loss changes when padded positions change: keep only positions where "
                                     "attention_mask == 1"),
    (check_L_cos, lambda s, t, am: ((1 - cos_rows(s, t)) * am).sum() / am.numel(), "divided by all B×S = 10"),
    (check_L_cos, cos_zeroed_padding, "padded positions counted as 1 - cos = 1"),
    (check_L_cos, lambda s, t, am: cos_rows(s, t)[am.bool()].mean(), "returned the mean cosine"),
    (check_L_cos, lambda s, t, am: (cos_rows(s, t) - 1)[am.bool()].mean(), "not cos - 1"),
    (check_L_cos, lambda s, t, am: (1 - cos_rows(s, t))[am.bool()].sum(), "times too large: average over the real"),
    (check_L_cos, lambda s, t, am: (1 - cos_rows(s, t))[am.bool()].sum() / len(am), "divided by the batch size B = 2"),
    (check_L_cos, cos_per_sentence, "a short sentence weighs as much as a long one"),
    (check_L_cos, cos_hidden_mean, "averaged the products over the hidden dimension"),
    (check_L_cos, cos_dot, "scaling h_s by 10 changed the loss: divide by the norms"),
    (check_L_cos, cos_dot_half_normalised, "scaling h_s by 10 changed the loss: divide by the norms"),
    (check_L_cos, cos_dot_all, "the loss changes when padded positions change"),
    (check_L_cos, lambda s, t, am: (1 - cos_rows(s, t)) * am, "expected a scalar"),
    (check_L_cos, lambda s, t, am: cos_solution(s, t, am).item(), "should return a torch.Tensor"),
    (check_L_cos, lambda s, t, am: cos_solution(s, t, am).detach(), "no gradient reaches student_hidden"),
    # L_ce
    (check_L_ce, lambda s, t, mask, T: kl_rows(s[mask], t[mask], T, T).mean(), "T² = 4 times too small"),
    (check_L_ce, ce_all_positions, "averaged over all B×S = 10 positions"),
    (check_L_ce, lambda s, t, mask, T: T * T * (kl_rows(s, t, T, T) * mask).sum() / mask.numel(),
     "divided by all B×S = 10 positions"),
    (check_L_ce, ce_batchmean_3d, "'batchmean' on a (batch, seq, vocab) tensor divides by its first dimension only"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(s[mask], t[mask], T, T).sum(), "times too large"),
    (check_L_ce, lambda s, t, mask, T: T * T * F.kl_div(F.log_softmax(s[mask] / T, -1), F.softmax(t[mask] / T, -1),
                                                        reduction="mean"), "averaged over the vocabulary too"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(t[mask], s[mask], T, T).mean(), "KL in the wrong direction"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(s[mask], t[mask], 1.0, T).mean(), "only one side"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(s[mask], t[mask], T, 1.0).mean(), "only one side"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(s[mask], t[mask], 1.0, 1.0).mean(), "the loss ignores T"),
    (check_L_ce, lambda s, t, mask, T: T * T * -(F.softmax(t[mask] / T, -1) * F.log_softmax(s[mask] / T, -1))
     .sum(-1).mean(), "teacher's entropy"),
    (check_L_ce, lambda s, t, mask, T: T * T * (kl_rows(s, t, T, T) * mask).sum() / mask.sum() + (s[~mask] ** 2)
     .mean() * 1e-3, "the loss changes when the logits at unselected positions change"),
    (check_L_ce, ce_not_zero, "not 0 when student_logits equal teacher_logits"),
    (check_L_ce, lambda s, t, mask, T: ce_solution(s, t, mask, T).item(), "should return a torch.Tensor"),
    (check_L_ce, lambda s, t, mask, T: T * T * kl_rows(s[mask], t[mask], T, T), "expected a scalar"),
    # L_mlm
    (check_L_mlm, mlm_all_positions, "positions labelled -100 were included"),
    (check_L_mlm, mlm_over_all, "divided by all B×S = 12 positions"),
    (check_L_mlm, lambda z, y: F.cross_entropy(z.transpose(1, 2), y, reduction="sum") / len(y),
     "divided by the batch size B = 2"),
    (check_L_mlm, lambda z, y: F.cross_entropy(z.transpose(1, 2), y, reduction="sum"), "times too large"),
    (check_L_mlm, mlm_probabilities, "you used probabilities"),
    (check_L_mlm, mlm_no_minus, "mind the minus sign"),
    (check_L_mlm, lambda z, y: F.nll_loss(torch.log_softmax(z, 1).transpose(1, 2), y), "instead of the vocabulary"),
    (check_L_mlm, mlm_gathers_minus_100, "-100 is no token id"),
    (check_L_mlm, lambda z, y: F.cross_entropy(z.transpose(1, 2), y, reduction="none"), "expected a scalar"),
    (check_L_mlm, lambda z, y: -torch.log(torch.softmax(z, -1)).transpose(1, 2).gather(1, y.clamp(min=0)[:, None])
     .squeeze(1)[y != -100].mean(), "log_softmax"),
    # bert_corruption
    (check_bert_corruption, corruption_overlapping, "% of the chosen tokens became [MASK]; BERT's rule is 80%"),
    (check_bert_corruption, corruption_overlapping, "two independent draws overlap"),
    (check_bert_corruption, corruption_too_few_random, "about 2% of the chosen tokens became a random token"),
    (check_bert_corruption, corruption_too_few_random, "half of the 20% left after [MASK]"),
    (check_bert_corruption, corruption_half, "about 50% of the chosen tokens became [MASK]; BERT's rule is 80%"),
    (check_bert_corruption, corruption_no_keep, "no chosen token stayed unchanged"),
    (check_bert_corruption, corruption_global_rng, "pass generator=generator to every draw"),
    (check_bert_corruption, corruption_first_80, "two different seeds"),
    (check_bert_corruption, corruption_in_place, "changed chosen_ids in place"),
    (check_bert_corruption, corruption_few_ids, "take only 10 different ids"),
    (check_bert_corruption, corruption_out_of_range, "token ids lie in [0, vocab_size)"),
    (check_bert_corruption, lambda ids, m, V, g: corruption_solution(ids, m, V, g).tolist(), "expected a tensor"),
    (check_bert_corruption, lambda ids, m, V: ids, "your function is called as bert_corruption(chosen_ids, "),
]


@pytest.mark.filterwarnings("ignore:reduction")  # F.kl_div(reduction="mean") warns: that is the mistake
@pytest.mark.parametrize("check, fn, phrase", WRONG, ids=[f"{NAMES[c]}-{p[:40]}" for c, _, p in WRONG])
def test_wrong_implementation_is_named(check, fn, phrase, capsys):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    assert phrase in str(info.value), str(info.value)
    assert "✓" not in capsys.readouterr().out


def test_message_names_the_input_and_the_difference():
    with pytest.raises(CheckFailed) as info:
        check_L_cos(cos_all_positions)
    message = str(info.value)
    assert "hidden states of shape (2, 5, 8), float64, sentence lengths [" in message
    assert "max abs difference" in message and "Hint: " in message
