"""Tests for kd_teach.tinybert.augment: TinyBERT's data augmentation on real SST-2 rows with the real MLM teacher and GloVe."""
from __future__ import annotations

import random

import pytest

from kd_teach.tinybert.augment import (Augmenter, STOP_WORDS, WordCandidates, WordVectors, augment, is_replaceable,
                                       sample_augmentations)


@pytest.fixture(scope="module")
def glove():
    return WordVectors.glove()


@pytest.fixture(scope="module")
def augmenter(smoke_mlm_teacher, tokenizer, glove):
    teacher, _ = smoke_mlm_teacher
    return Augmenter(teacher, tokenizer, glove, K=15, batch_size=16)


@pytest.fixture(scope="module")
def sentences(smoke_data):
    return smoke_data.train_raw["sentence"][:12]


def test_glove_neighbours_are_real_neighbours(glove):
    near = glove.neighbours(["car", "unbearably", "Car", "qqxqzz"], 10)
    assert {"vehicle", "truck", "cars"} <= set(near[0])
    assert "car" not in near[0] and near[0] == near[2]              # never the word itself; case-insensitive
    assert len(near[1]) == 10 and all(w.isalpha() for w in near[1])
    assert near[3] == []                                            # unknown word: no candidates


def test_single_piece_words_ask_the_mlm_and_multi_piece_words_ask_glove(augmenter, tokenizer):
    [wc] = augmenter.candidates(["the cinematography is unbearably dull , and 2 hours long ."])
    by_word = {wc.words[i]: (wc.source[i], c) for i, c in wc.candidates.items()}
    assert len(tokenizer.tokenize("unbearably")) > 1 and by_word["unbearably"][0] == "glove"
    assert by_word["dull"][0] == "mlm" and len(by_word["dull"][1]) == 15
    for word in ("the", "is", ",", "and", "2", "."):                 # stop words, punctuation, numbers: kept
        assert word not in by_word
    for source, cands in by_word.values():
        assert all(c.isalpha() and not c.startswith("##") for c in cands)
    assert "dull" not in by_word["dull"][1]                          # never the word itself


def test_batched_candidates_equal_the_one_forward_per_word_reference(augmenter, sentences):
    batched = augmenter.candidates(sentences)
    for wc, sentence in zip(batched, sentences):
        reference = augmenter.candidates_unbatched(sentence)
        assert wc.words == reference.words and wc.source == reference.source
        assert wc.candidates == reference.candidates, sentence
    assert sum(len(wc.candidates) for wc in batched) > 2 * len(sentences)


def test_augmentation_is_deterministic_and_independent_of_batching(augmenter, sentences):
    first = augment(augmenter, sentences, N=4, p=0.4, seed=0, chunk=5, progress=False)
    again = augment(augmenter, sentences, N=4, p=0.4, seed=0, chunk=64, progress=False)
    other = augment(augmenter, sentences, N=4, p=0.4, seed=1, chunk=64, progress=False)
    as_text = lambda out: [[a.sentence for a in per] for per in out]  # noqa: E731
    assert as_text(first) == as_text(again)
    assert as_text(first) != as_text(other)
    for sentence, per in zip(sentences, first):
        assert len(per) <= 4 and sentence not in {a.sentence for a in per}
        assert len({a.sentence for a in per}) == len(per)           # no duplicates
        for a in per:
            assert a.changes and all(is_replaceable(old) and new != old for _, old, new, _ in a.changes)


def test_replacement_keeps_everything_else_in_place():
    wc = WordCandidates("it 's a  gorgeous , witty movie .", ["it", "'", "s", "a", "gorgeous", ",", "witty", "movie", "."],
                        [(0, 2), (3, 4), (4, 5), (6, 7), (9, 17), (18, 19), (20, 25), (26, 31), (32, 33)],
                        {4: ["stunning"], 6: ["clever"]}, {4: "mlm", 6: "glove"})
    out = sample_augmentations(wc, N=5, p=1.0, rng=random.Random(0))
    assert [a.sentence for a in out] == ["it 's a  stunning , clever movie ."]   # N draws, one distinct result
    assert out[0].changes == [(4, "gorgeous", "stunning", "mlm"), (6, "witty", "clever", "glove")]
    assert sample_augmentations(wc, N=5, p=0.0, rng=random.Random(0)) == []   # nothing replaced: only the original
    with pytest.raises(ValueError, match=r"need 0 <= p <= 1 and N >= 0, got p=1.5"):
        sample_augmentations(wc, N=5, p=1.5, rng=random.Random(0))


def test_stop_words_are_never_replaced():
    assert {"the", "and", "not", "is"} <= STOP_WORDS
    assert not any(is_replaceable(w) for w in ("the", "The", ",", "2", "'s", "co-star"))
    assert is_replaceable("movie") and is_replaceable("Movie")


def test_augmented_data_is_cached(smoke_preset, sentences, smoke_mlm_teacher):
    from kd_teach.engine.cache import augmented_sst2

    rows, info = augmented_sst2(smoke_preset, sentences[:6], log=lambda *_: None)
    again, info2 = augmented_sst2(smoke_preset, sentences[:6], log=lambda *_: None)
    assert info2["cached"] and again == rows and len(rows) == 6
    assert info["augmented"] == sum(map(len, rows)) > 0
    assert all({"sentence", "changes"} == a.keys() for per in rows for a in per)
