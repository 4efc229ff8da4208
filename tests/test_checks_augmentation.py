"""Tests for kd_teach.course.checks.augmentation: TinyBERT's augmentation rule (Jiao et al. 2020, Algorithm 1).

The checker's references follow the package (Augmenter.parse sends the same words to the same source,
sample_augmentations draws the same sentences); correct rewrites pass; each usual mistake is named.
"""
from __future__ import annotations

import random
import re

import pytest
from transformers import BertConfig, BertForMaskedLM

from kd_teach.course.checks import CheckFailed
from kd_teach.course.checks.augmentation import (CANDIDATES, WORDS, check_replace_words, check_word_candidates,
                                                 replace_words, word_candidates)
from kd_teach.engine.models import load_tokenizer
from kd_teach.tinybert.augment import Augmenter, WordCandidates, WordVectors, is_replaceable, render, \
    sample_augmentations


def test_the_candidate_rule_is_the_packages_on_real_sentences():
    tokenizer = load_tokenizer()
    tiny = BertForMaskedLM(BertConfig(vocab_size=len(tokenizer), hidden_size=8, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=16))
    augmenter = Augmenter(tiny, tokenizer, WordVectors(["x"], [[1.0]]), K=2)
    sources = []
    for sentence in ["the cinematography is unbearably dull .", "how can anyone drive such a small car ?",
                     "a gorgeously strange film , 2 hours long and overlong"]:
        wc, _, one_piece, multi = augmenter.parse(sentence)
        ours = word_candidates(wc.words, tokenizer.tokenize, lambda i, K: ["m"], lambda w, K: ["g"], 2)
        assert {i: s for i, (s, _) in ours.items()} == {**{i: "mlm" for i in one_piece}, **{i: "glove" for i in multi}}
        sources += [s for s, _ in ours.values()]
    assert sources.count("glove") >= 2 and sources.count("mlm") >= 6    # both sources were exercised


def test_the_replacement_draws_the_packages_sentences():
    spans = [(sum(len(w) + 1 for w in WORDS[:i]), sum(len(w) + 1 for w in WORDS[:i]) + len(WORDS[i]))
             for i in range(len(WORDS))]
    wc = WordCandidates(" ".join(WORDS), list(WORDS), spans, {i: c for i, (_, c) in CANDIDATES.items()},
                        {i: s for i, (s, _) in CANDIDATES.items()})
    for seed in range(20):
        theirs = sample_augmentations(wc, 1, 0.4, random.Random(seed))
        ours = replace_words(WORDS, CANDIDATES, 0.4, random.Random(seed))
        assert " ".join(ours) == (render(wc, theirs[0].changes) if theirs else " ".join(WORDS))


# --------------------------------------------------------------------------- word_candidates
def candidates(words, tokenize, mlm, glove, K, *, keep=is_replaceable, swap=False, empty=False, only=None):
    """The rule written out; each keyword turned the wrong way is one usual mistake."""
    out = {}
    for i, word in enumerate(words):
        if not keep(word):
            continue
        one = (len(tokenize(word)) == 1) != swap if only is None else only == "mlm"
        found = mlm(i, K) if one else glove(word, K)
        if found or empty:
            out[i] = ("mlm" if one else "glove", found)
    return out


def test_a_correct_rule_passes(capsys):
    check_word_candidates(candidates)
    assert capsys.readouterr().out.startswith("✓ word_candidates follows Algorithm 1 on 4 sentences")


CANDIDATES_WRONG = [
    (lambda *a: candidates(*a, swap=True), "the sources are swapped"),
    (lambda *a: candidates(*a, keep=str.isalpha), "stop words got candidates"),
    (lambda *a: candidates(*a, keep=lambda w: w.lower() not in {"the", "is", "how", "can", "such", "a", "and",
                                                                "it", "not", "but"}),
     "punctuation or numbers got candidates"),
    (lambda *a: candidates(*a, only="mlm"), "every word went to the masked LM"),
    (lambda *a: candidates(*a, only="glove"), "every word went to GloVe"),
    (lambda *a: candidates(*a, empty=True), "a word GloVe does not know is listed with no candidates"),
    (lambda words, tok, mlm, glove, K: candidates(words, tok, lambda i, K: mlm(i, 3), glove, K),
     "one WordPiece: ('mlm', masked_lm_top(i, K))"),
    (lambda words, tok, mlm, glove, K: {i: ("mlm", mlm(i)) for i, w in enumerate(words)},
     "the look-ups are called as masked_lm_top(i, K) and glove_top(word, K)"),
    (lambda words, tok, mlm, glove, K: {i: ("mlm", mlm(w, K)) for i, w in enumerate(words)},
     "masked_lm_top takes the word's index i (an int)"),
    (lambda words, tok, mlm, glove, K: {words[i]: v for i, v in candidates(words, tok, mlm, glove, K).items()},
     "the keys are word indices"),
    (lambda words, tok, mlm, glove, K: list(candidates(words, tok, mlm, glove, K).items()), "return a dict"),
]


@pytest.mark.parametrize("fn, phrase", CANDIDATES_WRONG, ids=[p[:40] for _, p in CANDIDATES_WRONG])
def test_a_wrong_rule_is_named(fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check_word_candidates(fn)
    assert "✓" not in capsys.readouterr().out


# --------------------------------------------------------------------------- replace_words
def replace(words, candidates, p, rng, *, when=lambda r, p: r < p, pick=lambda rng, c: rng.choice(c)):
    out = list(words)
    for i, (_, c) in candidates.items():
        if when(rng.random(), p):
            out[i] = pick(rng, c)
    return out


def test_a_correct_replacement_passes(capsys):
    check_replace_words(replace)                                  # draws in another order than the reference
    assert capsys.readouterr().out.startswith("✓ replace_words replaces each word with candidates at rate p")


def all_or_none(words, candidates, p, rng):
    change = rng.random() < p
    return [rng.choice(candidates[i][1]) if change and i in candidates else w for i, w in enumerate(words)]


def one_word(words, candidates, p, rng):
    out, i = list(words), rng.choice(sorted(candidates))
    if rng.random() < p:
        out[i] = rng.choice(candidates[i][1])
    return out


def every_word(words, candidates, p, rng):
    return [f"{w}!" if rng.random() < p else w for w in words]


def in_place(words, candidates, p, rng):
    for i, (_, c) in candidates.items():
        if rng.random() < p:
            words[i] = rng.choice(c)
    return words


REPLACE_WRONG = [
    (lambda *a: replace(*a, when=lambda r, p: r > p), "you replace with probability 1 − p"),
    (lambda *a: replace(*a, when=lambda r, p: r < 0.5), "each word with candidates is replaced when rng.random() < p"),
    (all_or_none, "all the words change together or none"),
    (one_word, "at most one word changes per sentence"),
    (lambda *a: replace(*a, pick=lambda rng, c: c[0]), "you always take the same candidate"),
    (lambda *a: replace(*a, pick=lambda rng, c: c[min(int(rng.random() * 6), 3)]), "pick the candidate uniformly"),
    (lambda *a: replace(*a, pick=lambda rng, c: random.choice(c)), "draw every random number from the rng you are given"),
    (every_word, "(word 0, no candidates) became"),
    (lambda words, cands, p, rng: replace(words, cands, p, rng, pick=lambda rng, c: "film"), "which is not among"),
    (in_place, "changed its input in place"),
    (lambda words, cands, p, rng: " ".join(replace(words, cands, p, rng)), "expected a list of 11 words"),
    (lambda words, cands, p: list(words), "your function is called as replace_words(words, candidates, p, rng)"),
]


@pytest.mark.parametrize("fn, phrase", REPLACE_WRONG, ids=[p[:40] for _, p in REPLACE_WRONG])
def test_a_wrong_replacement_is_named(fn, phrase, capsys):
    with pytest.raises(CheckFailed, match=re.escape(phrase)):
        check_replace_words(fn)
    assert "✓" not in capsys.readouterr().out
