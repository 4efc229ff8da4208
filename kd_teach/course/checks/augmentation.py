"""Checkers for the augmentation exercises of notebook 07 (TinyBERT, Jiao et al. 2020, Section 3.3, Algorithm 1).

Algorithm 1 in two parts, as :mod:`kd_teach.tinybert.augment` runs it:

1. candidates (:func:`word_candidates`): a replaceable word (alphabetic, not a stop word) of **one
   WordPiece** gets the masked-LM teacher's K likeliest words at its position, the word masked; a
   word of **several pieces** gets its K nearest GloVe neighbours (none if GloVe does not know it);
2. a new sentence (:func:`replace_words`): every word with candidates is replaced, with
   probability p (p_t in the paper), by one of its candidates drawn uniformly.

``check_word_candidates`` runs the learner's rule on sentences with a toy WordPiece split and
look-ups whose answers show where they came from, and names the mistake its output matches (the
two sources swapped, stop words or punctuation replaced, one source for every word, an unknown
word kept, K not passed on). ``check_replace_words`` is statistical: thousands of draws from a
seeded ``random.Random`` must replace each word at rate p (within 5 standard deviations), words
independently, candidates uniformly, words without candidates never, reproducibly for a seed;
each failure names what the counts show (1 − p instead of p, one draw per sentence, at most one
word, always the first candidate, another random source).
"""
from __future__ import annotations

import math
import random
from collections import Counter
from typing import Callable

from kd_teach.course.checks.core import CheckFailed, one_thread
from kd_teach.tinybert.augment import STOP_WORDS, is_replaceable

PIECES = {"cinematography": ["cinema", "##tography"], "unbearably": ["un", "##bear", "##ably"],
          "gorgeously": ["gorgeous", "##ly"], "zzyzxian": ["z", "##zy", "##zx", "##ian"],
          "overlong": ["over", "##long"]}
UNKNOWN_TO_GLOVE = {"zzyzxian"}
SENTENCES = (  # (words, K)
    (["the", "cinematography", "is", "unbearably", "dull", "."], 3),
    (["how", "can", "anyone", "drive", "such", "a", "small", "car", "?"], 5),
    (["a", "gorgeously", "strange", "film", ",", "2", "hours", "long", "and", "zzyzxian"], 2),
    (["It", "'s", "NOT", "Good", "but", "overlong", "!"], 4),
)


def toy_tokenize(word: str) -> list[str]:
    """A WordPiece split: the words of :data:`PIECES` in several pieces, every other word in one."""
    return list(PIECES.get(word.lower(), [word.lower()]))


def toy_masked_lm_top(i: int, K: int) -> list[str]:
    """The K words a masked LM would propose for word i: named after i, so the output shows the source."""
    if not isinstance(i, int) or isinstance(i, bool):
        raise TypeError(f"masked_lm_top takes the word's index i (an int), got {i!r}")
    return [f"mlm_{i}_{k}" for k in range(K)]


def toy_glove_top(word: str, K: int) -> list[str]:
    """The K GloVe neighbours of word (named after it), or [] for a word GloVe does not know."""
    if not isinstance(word, str):
        raise TypeError(f"glove_top takes the word itself (a str), got {word!r}")
    return [] if word.lower() in UNKNOWN_TO_GLOVE else [f"{word}~{k}" for k in range(K)]


def word_candidates(words: list[str], tokenize: Callable, masked_lm_top: Callable, glove_top: Callable,
                    K: int) -> dict[int, tuple[str, list[str]]]:
    """The reference: {word index: ("mlm" | "glove", up to K candidates)} for the replaceable words.

    Source: Jiao et al. 2020, Algorithm 1 (as :meth:`kd_teach.tinybert.augment.Augmenter.candidates`).
    """
    out = {}
    for i, word in enumerate(words):
        if not is_replaceable(word):
            continue                                             # stop words, punctuation, numbers: kept
        if len(tokenize(word)) == 1:
            out[i] = ("mlm", masked_lm_top(i, K))                # one piece: the masked LM fills its blank
        elif found := glove_top(word, K):
            out[i] = ("glove", found)                            # several pieces: GloVe's neighbours
    return out


def _rule(words, K, keep=is_replaceable, one_piece=lambda n: n == 1, swap=False, keep_empty=False, mlm_only=False,
          glove_only=False):
    """The reference redone with one mistake (each keyword turned the wrong way is one)."""
    out = {}
    for i, word in enumerate(words):
        if not keep(word):
            continue
        mlm = (one_piece(len(toy_tokenize(word))) != swap or mlm_only) and not glove_only
        found = toy_masked_lm_top(i, K) if mlm else toy_glove_top(word, K)
        if found or keep_empty:
            out[i] = ("mlm" if mlm else "glove", found)
    return out


CANDIDATE_MISTAKES = [
    ("the sources are swapped: a word of one WordPiece gets the masked LM's candidates (one [MASK] can stand for "
     "it), a word of several pieces GloVe's neighbours", lambda w, K: _rule(w, K, swap=True)),
    ("stop words got candidates: skip every word that is_replaceable(word) rejects ('the', 'is', 'not', ...)",
     lambda w, K: _rule(w, K, keep=str.isalpha)),
    ("punctuation or numbers got candidates: skip every word that is_replaceable(word) rejects",
     lambda w, K: _rule(w, K, keep=lambda x: x.lower() not in STOP_WORDS)),
    ("every word went to the masked LM: only a word of one WordPiece can (len(tokenize(word)) == 1); a word of "
     "several pieces gets GloVe's neighbours", lambda w, K: _rule(w, K, mlm_only=True)),
    ("every word went to GloVe: a word of one WordPiece gets the masked LM's candidates",
     lambda w, K: _rule(w, K, glove_only=True)),
    ("a word GloVe does not know is listed with no candidates: leave it out (nothing to replace it with)",
     lambda w, K: _rule(w, K, keep_empty=True)),
]


def _same(got, want: dict) -> bool:
    return (isinstance(got, dict) and set(got) == set(want)
            and all(isinstance(got[i], (tuple, list)) and len(got[i]) == 2 and got[i][0] == want[i][0]
                    and list(got[i][1]) == list(want[i][1]) for i in want))


@one_thread
def check_word_candidates(fn: Callable) -> None:
    """Check fn(words, tokenize, masked_lm_top, glove_top, K) -> {i: (source, candidates)} against Algorithm 1.

    Reference :func:`word_candidates` (Jiao et al. 2020, Algorithm 1; :mod:`kd_teach.tinybert.augment`).
    """
    name, usage = "word_candidates", "word_candidates(words, tokenize, masked_lm_top, glove_top, K)"
    got = {}
    for words, K in SENTENCES:
        try:
            got[tuple(words)] = fn(list(words), toy_tokenize, toy_masked_lm_top, toy_glove_top, K)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = (f" Hint: {e}; masked_lm_top(i, K) takes the word's index and K, glove_top(word, K) the word "
                    "and K." if "takes the word" in str(e) else
                    f" Hint: the look-ups are called as masked_lm_top(i, K) and glove_top(word, K); your function "
                    f"as {usage}." if isinstance(e, TypeError) else "")
            raise CheckFailed(f"{name} raised {type(e).__name__} for words {words}, K={K}: {e}.{hint}") from e
    for words, K in SENTENCES:
        out, want = got[tuple(words)], word_candidates(words, toy_tokenize, toy_masked_lm_top, toy_glove_top, K)
        if _same(out, want):
            continue
        text = f"{name} returned {out!r} for words {words}, K={K}; expected {want}."
        if not isinstance(out, dict):
            raise CheckFailed(f"{text}\nHint: return a dict {{word index: (source, candidates)}}.")
        if out and all(isinstance(k, str) for k in out):
            raise CheckFailed(f"{text}\nHint: the keys are word indices (0 for the first word), not the words.")
        explains = lambda m, pairs: all(_same(got[tuple(w)], m(w, k)) for w, k in pairs)  # noqa: E731
        hint = (next((h for h, m in CANDIDATE_MISTAKES if explains(m, SENTENCES)), None)
                or next((h for h, m in CANDIDATE_MISTAKES if explains(m, [(words, K)])), None)
                or "one WordPiece: ('mlm', masked_lm_top(i, K)); several: ('glove', glove_top(word, K)) if GloVe "
                   "knows it; stop words, punctuation and numbers: no entry")
        raise CheckFailed(f"{text}\nHint: {hint}.")
    print(f"✓ {name} follows Algorithm 1 on {len(SENTENCES)} sentences (one-piece words to the masked LM, "
          "multi-piece words to GloVe, stop words, punctuation, numbers and unknown words left alone).")


# --------------------------------------------------------------------------- replacing words
def replace_words(words: list[str], candidates: dict, p: float, rng: random.Random) -> list[str]:
    """The reference: a new list of words, each word with candidates replaced with probability p.

    Draws as :func:`kd_teach.tinybert.augment.sample_augmentations` does: a candidate, then whether to use it.
    """
    out = list(words)
    for i, (_, cands) in candidates.items():
        new = rng.choice(cands)
        if rng.random() < p:
            out[i] = new
    return out


WORDS = ["the", "film", "is", "long", "but", "funny", "and", "sweet", ",", "bravely", "acted"]
CANDIDATES = {i: ("mlm" if i % 2 else "glove", [f"{WORDS[i]}_{k}" for k in range(4)]) for i in (1, 3, 5, 7, 9, 10)}
DRAWS = 1000


def _draws(fn: Callable, p: float, seed: int) -> list[list[str]]:
    rng, out = random.Random(seed), []
    for _ in range(DRAWS):
        words, cands = list(WORDS), {i: (s, list(c)) for i, (s, c) in CANDIDATES.items()}
        try:
            new = fn(words, cands, p, rng)
        except NotImplementedError:
            raise
        except Exception as e:
            hint = " Hint: your function is called as replace_words(words, candidates, p, rng)." \
                if isinstance(e, TypeError) else ""
            raise CheckFailed(f"replace_words raised {type(e).__name__} for p={p}: {e}.{hint}") from e
        if words != WORDS or cands != CANDIDATES:
            raise CheckFailed("replace_words changed its input in place. Hint: copy the words first "
                              "(new = list(words)) and return the copy.")
        if not (isinstance(new, list) and len(new) == len(WORDS) and all(isinstance(w, str) for w in new)):
            raise CheckFailed(f"replace_words returned {new!r} for words {WORDS}; expected a list of "
                              f"{len(WORDS)} words (str), the sentence with some words replaced.")
        out.append(new)
    return out


def _fail(what: str, hint: str) -> None:
    raise CheckFailed(f"replace_words, over {DRAWS} draws with words {WORDS} and candidates for the words "
                      f"{[WORDS[i] for i in CANDIDATES]}: {what}\nHint: {hint}.")


@one_thread
def check_replace_words(fn: Callable) -> None:
    """Check fn(words, candidates, p, rng) -> new words: each word with candidates replaced with probability p.

    Statistical: 1,000 draws from ``random.Random(seed)`` at each p (Jiao et al. 2020, Algorithm 1, p_t;
    reference :func:`replace_words`, as :func:`kd_teach.tinybert.augment.sample_augmentations`).
    """
    n = len(CANDIDATES)
    for p, seed in ((0.4, 1), (0.1, 2), (0.75, 3), (0.0, 4), (1.0, 5)):
        draws = _draws(fn, p, seed)
        for new in draws:
            for i, (w, x) in enumerate(zip(WORDS, new)):
                if w != x and i not in CANDIDATES:
                    _fail(f"'{w}' (word {i}, no candidates) became '{x}'.", "only words with candidates change: "
                          "loop over candidates.items(), not over every word")
                if w != x and x not in CANDIDATES[i][1]:
                    _fail(f"'{w}' became '{x}', which is not among its candidates {CANDIDATES[i][1]}.",
                          "replace word i by one of candidates[i][1] (candidates[i] is (source, words))")
        changed = [[new[i] != WORDS[i] for i in CANDIDATES] for new in draws]   # (DRAWS, n) booleans
        rate = sum(map(sum, changed)) / (DRAWS * n)
        per_sentence = [sum(row) for row in changed]
        if p in (0.0, 1.0):
            if rate != p:
                _fail(f"with p = {p:g} a share {rate:.3f} of the words changed; expected exactly {p:g}.",
                      "replace when rng.random() < p: never at p = 0, always at p = 1")
            continue
        sd = math.sqrt(p * (1 - p) / (DRAWS * n))
        if abs(rate - p) > 5 * sd:
            inverted = abs(rate - (1 - p)) < 5 * sd
            hint = ("you replace with probability 1 − p: replace when rng.random() < p" if inverted
                    else "at most one word changes per sentence: Algorithm 1 draws for every word on its own"
                    if max(per_sentence) <= 1 else
                    "each word with candidates is replaced when rng.random() < p, independently of the others")
            _fail(f"with p = {p:g} a share {rate:.3f} of the words changed; expected {p:g} ± {5 * sd:.3f}.", hint)
        mean = sum(per_sentence) / DRAWS
        var = sum((k - mean) ** 2 for k in per_sentence) / (DRAWS - 1)
        if var > 1.5 * n * p * (1 - p):
            _fail(f"with p = {p:g} the number of words changed per sentence varies too much (variance {var:.2f}; "
                  f"independent words give {n * p * (1 - p):.2f}).", "all the words change together or none: draw "
                  "rng.random() once per word, not once per sentence")
        for i in CANDIDATES:
            picks = Counter(new[i] for new in draws if new[i] != WORDS[i])
            total, k = sum(picks.values()), len(CANDIDATES[i][1])
            if any(abs(picks[c] - total / k) > 5 * math.sqrt(total / k) + 1 for c in CANDIDATES[i][1]):
                _fail(f"with p = {p:g} '{WORDS[i]}' became {dict(picks)}: not uniform over its {k} candidates.",
                      "you always take the same candidate: pick one at random, rng.choice(candidates[i][1])"
                      if len(picks) == 1 else "pick the candidate uniformly, rng.choice(candidates[i][1])")
    again, other = _draws(fn, 0.4, 1), _draws(fn, 0.4, 6)
    if again != _draws(fn, 0.4, 1) or again == other:
        _fail("the same seed gave different sentences (or different seeds the same).", "draw every random "
              "number from the rng you are given (rng.random(), rng.choice), not from the random module or torch: "
              "a seeded augmentation must be reproducible")
    print(f"✓ replace_words replaces each word with candidates at rate p (p = 0.1, 0.4, 0.75: within 5 standard "
          f"deviations over {DRAWS} draws; exactly at p = 0 and 1), independently, uniformly among its candidates, "
          "reproducibly for a seed.")
