"""The general corpus: unlabelled English text for MLM training and pre-training distillation.

DistilBERT was distilled on English Wikipedia and the Toronto Book Corpus; TinyBERT's general
distillation on English Wikipedia. Offline, the course reads a tiny stand-in of both, found
through ``$KD_TEACH_DATA_DIR``::

    $KD_TEACH_DATA_DIR/corpus/wikitext/*.txt     2.4 MB of Wikipedia (WikiText raw)
    $KD_TEACH_DATA_DIR/corpus/gutenberg/*.txt    4.4 MB of novels

one paragraph per line. Online, ``wikitext-103-raw-v1`` from the hub takes their place.
Paragraphs are tokenised with the teacher's tokenizer and cut into chunks of at most
``max_length`` tokens, each with its own [CLS] ... [SEP], so no text is thrown away.
"""
from __future__ import annotations

import re

from datasets import Dataset, load_dataset
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from kd_teach.distilbert.masking import token_counts
from kd_teach.engine.data import DATA_DIR_ENV, data_dir, make_loader
from kd_teach.engine.hub import OfflineAssetError, hub_reachable

HUB_CORPUS = ("wikitext", "wikitext-103-raw-v1")
_HEADING = re.compile(r"^\s*=.*=\s*$")  # WikiText's "= Title =" and "= = Section = =" lines


def corpus_files() -> list[str]:
    """The local corpus files, ``$KD_TEACH_DATA_DIR/corpus/**/*.txt`` sorted; [] when there are none."""
    root = data_dir()
    if root is None or not (root / "corpus").is_dir():
        return []
    return sorted(str(p) for p in (root / "corpus").rglob("*.txt"))


def load_corpus() -> Dataset:
    """The general corpus as a Dataset with one column ``text``, one paragraph per row.

    Local files first, then ``wikitext-103-raw-v1`` (train split) from the hub. Empty lines
    and WikiText headings are dropped.

    Raises:
        OfflineAssetError: with neither local files nor a reachable hub; says how to get either.
    """
    files = corpus_files()
    if files:
        ds = load_dataset("text", data_files=files, split="train")
    elif hub_reachable():
        ds = load_dataset(*HUB_CORPUS, split="train")
    else:
        root = data_dir()
        where = f"{DATA_DIR_ENV}={root}" if root else f"{DATA_DIR_ENV} is not set"
        raise OfflineAssetError(
            f"general corpus not found: no corpus/**/*.txt under the local data folder ({where}) and the "
            "Hugging Face Hub is unreachable. Either set KD_TEACH_DATA_DIR to a folder holding "
            "corpus/<any>/<file>.txt (plain text, one paragraph per line), or go online so "
            f"datasets.load_dataset{HUB_CORPUS} can download WikiText-103."
        )
    return ds.filter(lambda row: bool(row["text"].strip()) and not _HEADING.match(row["text"]))


def chunk(ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, min_tokens: int = 8) -> Dataset:
    """Tokenise ``text`` into chunks of at most ``max_length`` tokens ([CLS] and [SEP] included).

    A long paragraph becomes several chunks (the tokenizer's overflowing tokens); chunks of
    fewer than ``min_tokens`` tokens (stray words at a paragraph's end) are dropped.
    Returns a Dataset with ``input_ids`` and ``attention_mask``, unpadded.
    """
    def encode(batch):
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length, return_overflowing_tokens=True,
                        return_token_type_ids=False)
        keep = [i for i, ids in enumerate(enc["input_ids"]) if len(ids) >= min_tokens]
        return {"input_ids": [enc["input_ids"][i] for i in keep],
                "attention_mask": [enc["attention_mask"][i] for i in keep]}

    return ds.map(encode, batched=True, remove_columns=ds.column_names)


class Corpus:
    """The general corpus, chunked, split into training and held-out chunks, with token counts.

    Args:
        tokenizer: the teacher's tokenizer.
        max_length: tokens per chunk, [CLS] and [SEP] included.
        heldout_paragraphs: paragraphs set aside (whole, before chunking, so no held-out text
            is trained on) to measure masked-token accuracy.
        max_chunks: keep at most this many training chunks (a seeded sample), None for all.
        seed: picks the held-out paragraphs and the sample.
        texts: another corpus, a Dataset with a ``text`` column (e.g. in-domain sentences), instead of
            :func:`load_corpus`'s.
    Attributes:
        train, heldout: Datasets of ``input_ids`` and ``attention_mask``.
        counts: (vocab,) token counts over ``train`` (DistilBERT's rare-token smoothing uses them).
    Raises:
        OfflineAssetError: if the corpus cannot be had (see :func:`load_corpus`).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int = 64, heldout_paragraphs: int = 100,
                 max_chunks: int | None = None, seed: int = 0, texts: Dataset | None = None):
        split = (load_corpus() if texts is None else texts).train_test_split(test_size=heldout_paragraphs, seed=seed)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.train = chunk(split["train"], tokenizer, max_length)
        if max_chunks is not None and max_chunks < len(self.train):
            self.train = self.train.shuffle(seed=seed).select(range(max_chunks))
        self.heldout = chunk(split["test"], tokenizer, max_length)
        self.counts = token_counts(self.train.with_format(None)["input_ids"], len(tokenizer))

    def train_loader(self, batch_size: int, seed: int = 0) -> DataLoader:
        """Shuffled batches grouped by length (little padding), reproducible per (seed, epoch)."""
        return make_loader(self.train, self.tokenizer, batch_size, shuffle=True, seed=seed)

    def heldout_loader(self, batch_size: int = 64) -> DataLoader:
        return make_loader(self.heldout, self.tokenizer, batch_size)
