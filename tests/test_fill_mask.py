"""Tests for kd_teach.tinybert.fill_mask: the MLM logits at the blanks, computed the cheap way, against the full model."""
from __future__ import annotations

import pytest
import torch

from kd_teach.tinybert.fill_mask import decoder_rows, fill_mask_logits


@pytest.fixture(scope="module")
def masked_batch(smoke_data, tokenizer):
    """Real SST-2 sentences of different lengths (so rows are padded), one word masked in each."""
    sentences = sorted(smoke_data.train_raw["sentence"][:8], key=len)
    enc = tokenizer(sentences, padding=True, return_tensors="pt")
    lengths = enc.attention_mask.sum(1)                                      # (B,) real tokens, [CLS], [SEP] included
    assert lengths.min() < lengths.max()                                     # some rows are padded
    positions = torch.clamp(lengths // 2, min=1)                             # a word in the middle of each row
    ids = enc.input_ids.clone()
    ids[torch.arange(len(sentences)), positions] = tokenizer.mask_token_id
    return ids, enc.attention_mask, positions


def test_logits_at_the_blanks_equal_the_full_models(smoke_mlm_teacher, masked_batch):
    teacher, _ = smoke_mlm_teacher
    ids, mask, positions = masked_batch
    with torch.inference_mode():
        full = teacher.eval()(input_ids=ids, attention_mask=mask).logits[torch.arange(len(ids)), positions]  # (B, V)
    fast = fill_mask_logits(teacher, ids, mask, positions)
    assert fast.shape == full.shape
    torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)
    assert torch.equal(fast.argmax(-1), full.argmax(-1))


def test_a_subset_of_the_vocabulary_scores_those_rows_only(smoke_mlm_teacher, masked_batch):
    teacher, _ = smoke_mlm_teacher
    ids, mask, positions = masked_batch
    rows = torch.tensor([1996, 2143, 2204, 2919])                            # "the", "film", "good", "bad"
    all_rows = fill_mask_logits(teacher, ids, mask, positions)
    some = fill_mask_logits(teacher, ids, mask, positions, decoder_rows(teacher, rows))
    torch.testing.assert_close(some, all_rows[:, rows], atol=1e-5, rtol=1e-5)


def test_bad_input_is_named(smoke_mlm_teacher, masked_batch, smoke_teacher):
    teacher, _ = smoke_mlm_teacher
    ids, mask, positions = masked_batch
    with pytest.raises(ValueError, match=r"positions must have shape \(batch,\)"):
        fill_mask_logits(teacher, ids, mask, positions[:-1])
    with pytest.raises(ValueError, match="must be a BertForMaskedLM, got BertForSequenceClassification"):
        fill_mask_logits(smoke_teacher[0], ids, mask, positions)


def test_the_shortcut_and_the_plain_forward_pass_agree(smoke_mlm_teacher, masked_batch):
    from kd_teach.tinybert.fill_mask import _plain_features, _shortcut_features, shortcut_works

    teacher, _ = smoke_mlm_teacher
    ids, mask, positions = masked_batch
    assert shortcut_works(teacher.eval())           # the transformers installed here: the shortcut is used
    with torch.inference_mode():
        torch.testing.assert_close(_shortcut_features(teacher, ids, mask, positions),
                                   _plain_features(teacher, ids, mask, positions), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("change", ["an attribute is gone", "a layer computes something else"])
def test_changed_layer_internals_fall_back_to_the_plain_pass(smoke_mlm_teacher, masked_batch, monkeypatch, change):
    """If a transformers release lays BertLayer out differently, the shortcut is dropped, with a warning."""
    import kd_teach.tinybert.fill_mask as fm

    teacher, _ = smoke_mlm_teacher
    ids, mask, positions = masked_batch

    def broken(layer, h, additive_mask, pos):
        if change == "an attribute is gone":
            raise AttributeError("'BertAttention' object has no attribute 'self'")
        return torch.zeros(h.shape[0], h.shape[-1])

    monkeypatch.setattr(fm, "_last_layer_at", broken)
    monkeypatch.setattr(fm, "_SHORTCUT_WORKS", {})
    with pytest.warns(RuntimeWarning, match="using the plain forward pass"):
        fast = fm.fill_mask_logits(teacher.eval(), ids, mask, positions)
    with torch.inference_mode():
        full = teacher(input_ids=ids, attention_mask=mask).logits[torch.arange(len(ids)), positions]
    torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)
