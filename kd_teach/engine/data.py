"""SST-2 (GLUE) from a local folder or the hub, tokenised with the teacher's tokenizer.

Local layout (GLUE format), found through ``$KD_TEACH_DATA_DIR``::

    $KD_TEACH_DATA_DIR/sst2/train.tsv   67,349 rows, header "sentence\\tlabel"
    $KD_TEACH_DATA_DIR/sst2/dev.tsv        872 rows

Online, ``datasets.load_dataset("glue", "sst2")`` gives the same rows. :class:`TextClassificationData`
holds any text-classification task ready for training; :class:`SST2Data` is SST-2's (a user's own
file or hub data set: :mod:`kd_teach.engine.tasks`).
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict, load_dataset
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase
from transformers.trainer_pt_utils import LengthGroupedSampler

from kd_teach.engine.hub import OfflineAssetError, hub_reachable

DATA_DIR_ENV = "KD_TEACH_DATA_DIR"


def data_dir() -> Path | None:
    """The local data folder from ``$KD_TEACH_DATA_DIR``, or None when unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def load_sst2() -> DatasetDict:
    """SST-2 as a DatasetDict with splits ``train`` and ``validation``; columns ``sentence``, ``label``.

    Looks in ``$KD_TEACH_DATA_DIR/sst2/`` first, then the hub (``glue``, ``sst2``).

    Raises:
        OfflineAssetError: with neither a local copy nor a reachable hub; says how to get either.
    """
    root = data_dir()
    if root is not None:
        train, dev = root / "sst2" / "train.tsv", root / "sst2" / "dev.tsv"
        if train.is_file() and dev.is_file():
            ds = load_dataset(
                "csv",
                data_files={"train": str(train), "validation": str(dev)},
                delimiter="\t",
                quoting=csv.QUOTE_NONE,  # sentences contain quotes; take every character literally
                keep_default_na=False,   # never turn a sentence such as "null" into NaN
            )
            return ds.select_columns(["sentence", "label"])
    if hub_reachable():
        return load_dataset("glue", "sst2").select_columns(["sentence", "label"])
    where = f"{DATA_DIR_ENV}={root}" if root else f"{DATA_DIR_ENV} is not set"
    raise OfflineAssetError(
        f"SST-2 not found: no sst2/train.tsv and sst2/dev.tsv under the local data folder ({where}) "
        "and the Hugging Face Hub is unreachable. Either set KD_TEACH_DATA_DIR to a folder holding "
        "sst2/train.tsv and sst2/dev.tsv (GLUE format, header 'sentence\\tlabel'), or go online so "
        "datasets.load_dataset('glue', 'sst2') can download it."
    )


UNLABELLED = -100  # the label of a transfer-set sentence: no hard label (cross-entropy's ignore_index)


def subsample(ds: Dataset, n: int | None, seed: int = 0) -> Dataset:
    """A seeded random subset of ``n`` rows (all rows when ``n`` is None or >= len)."""
    if n is None or n >= len(ds):
        return ds
    return ds.shuffle(seed=seed).select(range(n))


def split_labelled_transfer(ds: Dataset, n_labelled: int | None, n_transfer: int,
                            seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Two disjoint seeded subsets: ``n_labelled`` rows kept with labels, then ``n_transfer`` more.

    The labelled rows are exactly ``subsample(ds, n_labelled, seed)``. The transfer rows come
    from the same shuffle, after them, so no sentence is in both. Their labels are *not*
    dropped here; :class:`TextClassificationData` replaces them with :data:`UNLABELLED`.

    Raises:
        ValueError: if ``n_transfer`` < 0, or more rows are asked for than ``ds`` holds.
    """
    if n_transfer < 0:
        raise ValueError(f"transfer_size must be >= 0, got {n_transfer}")
    if n_transfer == 0:
        return subsample(ds, n_labelled, seed), None
    n_labelled = len(ds) if n_labelled is None else n_labelled
    if n_labelled + n_transfer > len(ds):
        raise ValueError(f"train_size + transfer_size must be <= {len(ds):,} (the training rows), "
                         f"got {n_labelled:,} + {n_transfer:,}")
    shuffled = ds.shuffle(seed=seed)
    return shuffled.select(range(n_labelled)), shuffled.select(range(n_labelled, n_labelled + n_transfer))


def tokenize(ds: Dataset | DatasetDict, tokenizer: PreTrainedTokenizerBase, max_length: int = 64):
    """Tokenise ``sentence`` into input_ids/attention_mask/token_type_ids; ``label`` -> ``labels``.

    No padding here: batches are padded dynamically by :func:`make_loader`.
    """
    def encode(batch):
        return tokenizer(batch["sentence"], truncation=True, max_length=max_length)

    return ds.map(encode, batched=True, remove_columns=["sentence"]).rename_column("label", "labels")


def token_lengths(ds: Dataset) -> list[int]:
    """Tokens in each row of a tokenised data set (the length of its ``input_ids``), in row order."""
    return [len(ids) for ids in ds.with_format(None)["input_ids"]]


def make_loader(
    ds: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader with dynamic padding (transformers' DataCollatorWithPadding).

    With ``shuffle=True`` batches are grouped by length (transformers' LengthGroupedSampler),
    so short sentences are not padded to the longest of the data set; the order is a
    function of ``seed`` and the epoch set with :func:`set_loader_epoch`, which makes a
    resumed run see the same batches as an uninterrupted one.
    """
    ds = ds.with_format("torch")
    collator = DataCollatorWithPadding(tokenizer)
    # The loader's own generator: starting an epoch must not draw from the global RNG, or a
    # resumed run's dropout masks would drift from an uninterrupted run's.
    loader_rng = torch.Generator().manual_seed(seed)
    if not shuffle:
        return DataLoader(ds, batch_size=batch_size, collate_fn=collator, generator=loader_rng)
    lengths = token_lengths(ds)
    sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(ds, batch_size=batch_size, sampler=sampler, collate_fn=collator, generator=loader_rng)
    loader.kd_seed = seed  # read by set_loader_epoch
    return loader


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Re-seed a shuffled loader's order for ``epoch`` (a no-op for unshuffled loaders)."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, LengthGroupedSampler) and sampler.generator is not None:
        sampler.generator.manual_seed(loader.kd_seed * 100_003 + epoch)


class TextClassificationData:
    """A text-classification task ready for training: tokenised train, transfer and dev sets, the raw dev sentences.

    :class:`SST2Data` is SST-2's; :func:`kd_teach.engine.tasks.task_data` makes one from a user's file.

    Args:
        tokenizer: the teacher's tokenizer (students share it).
        raw: splits ``train`` and ``validation`` with columns ``sentence`` (str) and ``label`` (class id).
        label_names: the classes' names by id (a saved model's ``id2label``); ``num_labels`` is their number.
        name: the task's name, in run folders, results.json's ``task`` and the teacher's cache key.
        fingerprint: a short hash of the data, part of the fine-tuned teacher's cache key
            (:func:`kd_teach.engine.cache.teacher_key`); None for SST-2, whose keys predate it.
        train_size: rows of train to use with their labels (a seeded random subset), None for all.
        dev_size: rows of dev to use (the first ones), None for all.
        max_length: truncation length in tokens.
        seed: picks the train subset; fixed per preset so every row sees the same sentences.
        transfer_size: further train rows, disjoint from the labelled ones, kept *without* their
            labels (each becomes :data:`UNLABELLED`): Hinton's transfer set, which only a
            student learning from the teacher can use. ``self.transfer`` (tokenised) and
            ``self.transfer_sentences`` (the raw text) are None when 0.
        origin: where the data came from, in words, for the run's log.
    Raises:
        ValueError: if train_size + transfer_size exceeds the training rows.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, raw: DatasetDict, label_names: tuple[str, ...],
                 name: str, fingerprint: str | None = None, train_size: int | None = None,
                 dev_size: int | None = None, max_length: int = 64, seed: int = 0, transfer_size: int = 0,
                 origin: str = ""):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.name, self.fingerprint, self.origin = name, fingerprint, origin
        self._label_names = tuple(label_names)
        self.train_raw, transfer_raw = split_labelled_transfer(raw["train"], train_size, transfer_size, seed)
        self.transfer, self.transfer_sentences = None, None
        if transfer_raw is not None:
            self.transfer_sentences = list(transfer_raw["sentence"])  # the text alone (e.g. an in-domain corpus)
            unlabelled = transfer_raw.map(lambda b: {"label": [UNLABELLED] * len(b["label"])}, batched=True)
            self.transfer = tokenize(unlabelled, tokenizer, max_length)
        dev = raw["validation"]
        self.dev_raw = dev.select(range(min(dev_size, len(dev)))) if dev_size else dev
        self.train = tokenize(self.train_raw, tokenizer, max_length)
        self.dev = tokenize(self.dev_raw, tokenizer, max_length)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The classes' names by label index: a saved model's ``id2label``."""
        return self._label_names

    @property
    def num_labels(self) -> int:
        """Classes of the task: the teacher's and the students' outputs."""
        return len(self.label_names)

    @property
    def dev_sentences(self) -> list[str]:
        return self.dev_raw["sentence"]

    def train_loader(self, batch_size: int, seed: int = 0, train: Dataset | None = None) -> DataLoader:
        """Shuffled, length-grouped batches of ``train`` (default: the tokenised train set)."""
        return make_loader(train if train is not None else self.train, self.tokenizer, batch_size,
                           shuffle=True, seed=seed)

    def dev_loader(self, batch_size: int = 64) -> DataLoader:
        return make_loader(self.dev, self.tokenizer, batch_size)


TUNING_SIZE = 2_000  # SST-2 train sentences held out to choose recipes on (never dev): the tail of the seeded shuffle


class SST2Data(TextClassificationData):
    """SST-2 ready for training (:func:`load_sst2`): the task ``sst2``, classes negative (0) and positive (1).

    Train is shuffled once (``seed``): labelled sentences come from its front, then the transfer set, and its
    last :data:`TUNING_SIZE` rows are the **tuning split** (:attr:`tuning`), on which every recipe search is
    scored; dev is only ever used to report. The tuning split leaves out any sentence that is also among the
    labelled or transfer ones (SST-2 train repeats some), so it is disjoint from both by text, not only by row.

    Args:
        tokenizer: the teacher's tokenizer (students share it).
        train_size: rows of train to use with their labels (a seeded random subset), None for all but the
            tuning split.
        dev_size: rows of dev to use (the first ones), None for all 872.
        max_length: truncation length in tokens.
        seed: picks the train subset; fixed per preset so every row sees the same sentences.
        transfer_size: further train rows, disjoint from the labelled ones, kept *without* their
            labels (each becomes :data:`UNLABELLED`): Hinton's transfer set, which only a
            student learning from the teacher can use. ``self.transfer`` is None when 0.
    Raises:
        ValueError: if train_size + transfer_size reaches into the tuning split (more than 65,349 rows).
        OfflineAssetError: if SST-2 cannot be had (see :func:`load_sst2`).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, train_size: int | None = None,
                 dev_size: int | None = None, max_length: int = 64, seed: int = 0, transfer_size: int = 0):
        raw = load_sst2()
        usable = len(raw["train"]) - TUNING_SIZE
        train_size = usable - transfer_size if train_size is None else train_size
        if train_size + transfer_size > usable:
            raise ValueError(f"train_size + transfer_size must be <= {usable:,} (SST-2 train less the {TUNING_SIZE:,}-"
                             f"sentence tuning split), got {train_size:,} + {transfer_size:,}")
        super().__init__(tokenizer, raw, ("negative", "positive"), "sst2", None, train_size, dev_size,
                         max_length, seed, transfer_size, origin="SST-2 (GLUE)")
        shuffled = raw["train"].shuffle(seed=seed)
        used = set(self.train_raw["sentence"]) | (set(shuffled.select(range(train_size, train_size + transfer_size))
                                                      ["sentence"]) if transfer_size else set())
        tail = shuffled.select(range(usable, len(shuffled)))
        self.tuning_raw = tail.select([i for i, s in enumerate(tail["sentence"]) if s not in used])
        self._tuning = None

    @property
    def tuning(self) -> Dataset:
        """The tuning split, tokenised (on first use): labelled SST-2 train sentences no row trains on."""
        if self._tuning is None:
            self._tuning = tokenize(self.tuning_raw, self.tokenizer, self.max_length)
        return self._tuning

    def tuning_loader(self, batch_size: int = 64) -> DataLoader:
        """The tuning split in order, with ``labels``: what a recipe search scores a candidate on."""
        return make_loader(self.tuning, self.tokenizer, batch_size)

    @property
    def label_names(self) -> tuple[str, ...]:
        """The classes' names by label index (SST-2: 0 negative, 1 positive): a saved model's ``id2label``."""
        return ("negative", "positive")

    @classmethod
    def from_preset(cls, tokenizer: PreTrainedTokenizerBase, preset, seed: int = 0) -> "SST2Data":
        """The data a :class:`kd_teach.engine.presets.Preset` asks for (sizes, length, transfer set)."""
        return cls(tokenizer, preset.train_size, preset.dev_size, preset.max_length, seed, preset.transfer_size)
