"""Notebook 07's augmentation explorer on real SST-2 rows, with the smoke teachers (SST-2 and masked LM) and GloVe."""
from __future__ import annotations

import html
import random
import re

import pytest
import torch

from kd_teach.course.augment_explorer import AugmentationExplorer, marked_html, soft_labels
from kd_teach.tinybert.augment import Augmenter, WordVectors, augment, render, sample_augmentations, sentence_rng


@pytest.fixture(scope="module")
def augmenter(smoke_mlm_teacher, tokenizer):
    teacher, _ = smoke_mlm_teacher
    return Augmenter(teacher, tokenizer, WordVectors.glove(), K=15, batch_size=16)


@pytest.fixture(scope="module")
def sentences(smoke_data):
    """Real training rows with a word GloVe must replace (several WordPieces) and one the masked LM does."""
    return ["the cinematography is unbearably dull ."] + smoke_data.train_raw["sentence"][:6]


@pytest.fixture(scope="module")
def explorer(augmenter, smoke_teacher, tokenizer, sentences):
    teacher, _ = smoke_teacher
    return AugmentationExplorer(augmenter, teacher, tokenizer, sentences, N=8, p=0.4, seed=0, max_length=64)


@torch.no_grad()
def _p_positive(teacher, tokenizer, sentence: str) -> float:
    """The teacher's softmax on one sentence alone (no padding, no batching): P(label 1, positive)."""
    return teacher(**tokenizer(sentence, return_tensors="pt")).logits.softmax(-1)[0, 1].item()


def test_soft_labels_are_the_teachers_softmax_on_every_sentence(explorer, smoke_teacher, tokenizer, sentences):
    teacher, _ = smoke_teacher
    new = 0
    for sentence in sentences[:4]:
        explorer.sentence.value = sentence
        shown = [sentence] + [a.sentence for a in explorer.augmented]
        assert len(explorer.p_positive) == len(shown), sentence                  # the original, then each new one
        new += len(shown) - 1
        for s, p in zip(shown, explorer.p_positive):
            assert p == pytest.approx(_p_positive(teacher, tokenizer, s), abs=1e-5), s
        cells = re.findall(r"<td class='kd-aug-p'>([0-9.]+)</td>", explorer.table.value)
        assert cells == [f"{p:.3f}" for p in explorer.p_positive]                 # what the table shows
    assert new >= 4 and len({round(p, 6) for p in explorer.p_positive}) > 1     # new sentences, new labels


def test_at_the_presets_N_and_p_it_draws_what_augment_draws(explorer, augmenter, sentences):
    explorer.N.value, explorer.p.value = 3, 0.4
    for sentence, expected in zip(sentences, augment(augmenter, sentences, N=3, p=0.4, seed=0, progress=False)):
        explorer.sentence.value = sentence
        assert [(a.sentence, a.changes) for a in explorer.augmented] == [(a.sentence, a.changes) for a in expected]
    explorer.N.value, explorer.p.value = 8, 0.4


def test_candidates_and_their_sources_are_the_augmenters(explorer, augmenter):
    explorer.sentence.value = "the cinematography is unbearably dull ."
    [wc] = augmenter.candidates([explorer.sentence.value])
    assert explorer.candidates.candidates == wc.candidates and explorer.candidates.source == wc.source
    assert {wc.words[i]: s for i, s in wc.source.items()} == {"cinematography": "mlm", "unbearably": "glove",
                                                              "dull": "mlm"}
    words = html.unescape(explorer.words_table.value)
    assert "<td>unbearably</td><td style='background:#fde2b8'>GloVe</td>" in words
    assert "<td>dull</td><td style='background:#cfe3f7'>masked LM</td>" in words
    assert ", ".join(wc.candidates[4][:8]) in words
    table = html.unescape(explorer.table.value)
    for a in explorer.augmented:                       # every change names its word, its replacement and its source
        for i, old, new, source in a.changes:
            assert wc.words[i] == old and new in wc.candidates[i] and source == wc.source[i]
            assert f"{old} → {new} ({'masked LM' if source == 'mlm' else 'GloVe'})" in table
    assert "from the masked LM, 1 from GloVe" in explorer.summary


def test_the_marked_sentence_reads_as_the_augmented_sentence(explorer):
    explorer.sentence.value, explorer.p.value = "the cinematography is unbearably dull .", 1.0   # change every word
    try:
        wc = explorer.candidates
        assert explorer.augmented and all(len(a.changes) == 3 for a in explorer.augmented)
        for a in explorer.augmented:
            marked = marked_html(wc, a.changes)
            assert html.unescape(re.sub(r"<[^>]+>", "", marked)) == render(wc, a.changes) == a.sentence
            assert marked.count("class='kd-aug-glove'") == 1 and marked.count("class='kd-aug-mlm'") == 2
            assert "title='was &quot;unbearably&quot; (GloVe)'" in marked
    finally:
        explorer.p.value = 0.4


def test_more_draws_add_sentences_after_the_first_ones(explorer, sentences):
    """The draws are one seeded sequence: N = 8 starts with what N = 2 gives (the training set's at N = 2)."""
    explorer.sentence.value = sentences[1]
    explorer.N.value = 2
    few = [a.sentence for a in explorer.augmented]
    explorer.N.value = 8
    assert [a.sentence for a in explorer.augmented][:len(few)] == few


def test_sentence_rng_is_the_seeding_augment_always_used(augmenter, sentences):
    """Cached augmentations stay valid: augment() draws from random.Random(f"{seed}:{sentence}"), as before."""
    wcs = augmenter.candidates(sentences[:3])
    for seed in (0, 7):
        got = augment(augmenter, sentences[:3], N=5, p=0.5, seed=seed, progress=False)
        for wc, per in zip(wcs, got):
            before = sample_augmentations(wc, 5, 0.5, random.Random(f"{seed}:{wc.sentence}"))
            assert [(a.sentence, a.changes) for a in per] == [(a.sentence, a.changes) for a in before]
            assert sentence_rng(seed, wc.sentence).random() == random.Random(f"{seed}:{wc.sentence}").random()


def test_soft_labels_batched_equal_one_at_a_time(smoke_teacher, tokenizer, sentences):
    teacher, _ = smoke_teacher
    batched = soft_labels(teacher, tokenizer, sentences, max_length=64)
    assert batched == pytest.approx([_p_positive(teacher, tokenizer, s) for s in sentences], abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in batched)


def test_no_sentences_is_refused(augmenter, smoke_teacher, tokenizer):
    with pytest.raises(ValueError, match="at least one sentence"):
        AugmentationExplorer(augmenter, smoke_teacher[0], tokenizer, [])
