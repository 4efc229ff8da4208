"""Your own text-classification task: a local CSV/TSV file or a hub data set, made ready as SST-2 is.

``kd-teach run --data reviews.csv --text-column text --label-column label`` reads this way:

- the file: CSV, or TSV when it ends in ``.tsv``/``.tab`` (``--delimiter`` overrides); a header
  line names the columns, one row per example. TSV is read without quoting, as GLUE's files
  (a sentence may hold quote marks); CSV with the usual double-quote quoting. Cells such as
  ``null`` or ``NA`` stay text.
- labels: strings or integers, any number of classes (two or more). They become ids in sorted
  order (integers in numeric order, strings alphabetically); the values themselves become the
  classes' names, a saved model's ``id2label``.
- dev: ``--dev-data FILE`` (same columns); without it :data:`DEV_SHARE` of each class's rows is
  held out of the training file, seeded, at least one row of every class that has two.
- a hub id instead of a file (``--data user/dataset [--data-config NAME]``, online only): its
  ``train`` split, and its ``validation`` split as dev when it has one (else the hold-out);
  a ``ClassLabel`` column keeps the data set's own ids and names.

:func:`task_data` gives a :class:`kd_teach.engine.data.TextClassificationData` at a preset's
sizes, capped at what the data holds.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from kd_teach.engine.data import TextClassificationData, subsample
from kd_teach.engine.hub import OfflineAssetError, hub_reachable

DEV_SHARE = 0.1                                        # of each class, held out as dev when no dev file is given
FILE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")


class TaskDataError(ValueError):
    """The user's data set cannot be used as given; the message says what to change."""


@dataclass(frozen=True)
class TaskSpec:
    """Where a task's data is and how to read it (the options of ``kd-teach run --data``).

    Args:
        data: a CSV/TSV file, or a hub data set id.
        text_column, label_column: the columns holding the text and the label.
        dev_data: a CSV/TSV dev file with the same columns (None: hold out :data:`DEV_SHARE`).
        delimiter: the files' field separator (None: tab for ``.tsv``/``.tab``, else comma).
        config: the hub data set's configuration name, if it has several.
        name: the task's name (None: the file's stem, or the hub id's last part).
    """

    data: str
    text_column: str = "text"
    label_column: str = "label"
    dev_data: str | None = None
    delimiter: str | None = None
    config: str | None = None
    name: str | None = None

    @property
    def is_file(self) -> bool:
        """A local file, not a hub id: it exists, or looks like a path (a file suffix, ``./``, ``/``, ``~``)."""
        path = Path(self.data).expanduser()
        return path.exists() or path.suffix.lower() in FILE_SUFFIXES or self.data.startswith((".", "/", "~"))

    @property
    def task_name(self) -> str:
        """The name of run folders, results.json's ``task`` and cache keys: lower case, ``[a-z0-9._-]``.

        Raises:
            TaskDataError: for an empty name, or ``sst2`` (SST-2's own: ``kd-teach run sst2``).
        """
        raw = self.name or (Path(self.data).stem if self.is_file else
                            self.data.rstrip("/").split("/")[-1] + (f"-{self.config}" if self.config else ""))
        name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-.")
        if not name or name == "sst2":
            why = "SST-2's own: `kd-teach run sst2`" if name else "empty"
            raise TaskDataError(f"the task name {raw!r} cannot be used ({why}); name the task with --task-name")
        return name


def read_table(path: str | Path, delimiter: str | None = None) -> Dataset:
    """A CSV/TSV file with a header line as a Dataset, every cell a string as the file has it (see the module's notes).

    Raises:
        TaskDataError: a missing, empty or unparsable file, or one with a header and no rows.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise TaskDataError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise TaskDataError(f"{path} is empty: expected a header line naming the columns, then one row per example")
    sep = delimiter or ("\t" if path.suffix.lower() in (".tsv", ".tab") else ",")
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,  # every cell as text, as written
                            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise TaskDataError(f"cannot read {path} as {'TSV' if sep == chr(9) else f'{sep!r}-separated'} text: "
                            f"{str(err).strip()}") from None
    if len(frame) == 0:
        raise TaskDataError(f"{path} has a header ({', '.join(map(str, frame.columns))}) but no rows")
    return Dataset.from_pandas(frame, preserve_index=False)


def _check_columns(ds: Dataset, spec: TaskSpec, where: str) -> None:
    for column in (spec.text_column, spec.label_column):
        if column not in ds.column_names:
            raise TaskDataError(f"{where} has no column {column!r}; its columns: {', '.join(ds.column_names)}. "
                                "Name the text and label columns with --text-column and --label-column")


def label_values(values) -> list:
    """Labels as read, stripped of surrounding spaces; integers when every one is written as an integer."""
    values = [v.strip() if isinstance(v, str) else v for v in values]
    if values and all(isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v) for v in values):
        return [int(v) for v in values]
    return values


def label_ids(train: list, dev: list, where: str, order: list | None = None) -> tuple[list[int], list[int], tuple]:
    """Class ids for the training and dev labels, and the classes' names by id.

    Ids follow ``order`` when given (a hub ``ClassLabel``'s names), else the sorted distinct
    training labels: integers in numeric order, strings alphabetically.

    Raises:
        TaskDataError: fewer than two classes, or a label outside them (in dev: one train lacks).
    """
    classes = list(order) if order is not None else sorted(set(train), key=lambda v: (isinstance(v, str), v))
    if len(set(train)) < 2:
        raise TaskDataError(f"the label column of {where} holds one class only ({train[0]!r}): "
                            "a classifier needs two or more")
    index = {v: i for i, v in enumerate(classes)}
    for split, values in (("training", train), ("dev", dev)):
        unknown = sorted({v for v in values if v not in index}, key=str)
        if unknown:
            raise TaskDataError(f"label {unknown[0]!r} of the {split} set is not a class of the training set "
                                f"({', '.join(map(str, classes))})")
    return [index[v] for v in train], [index[v] for v in dev], tuple(str(c) for c in classes)


def stratified_holdout(labels: list[int], share: float = DEV_SHARE, seed: int = 0) -> tuple[list[int], list[int]]:
    """Row indices (train, dev): ``share`` of each class's rows held out (rounded; at least one of a class that
    has two or more, never all), drawn with ``seed``. Both lists are in row order."""
    rng, dev = random.Random(seed), []
    for c in sorted(set(labels)):
        rows = [i for i, y in enumerate(labels) if y == c]
        dev += rng.sample(rows, min(max(1, round(share * len(rows))), len(rows) - 1))
    held = set(dev)
    return [i for i in range(len(labels)) if i not in held], sorted(dev)


def _hub_splits(spec: TaskSpec) -> tuple[Dataset, Dataset | None, list | None]:
    """The hub data set's train split, its validation split (or None) and its ClassLabel names (or None)."""
    if not hub_reachable():
        raise OfflineAssetError(f"cannot load the data set {spec.data!r}: it is not a local file and the Hugging Face "
                                "Hub is unreachable. Pass a CSV or TSV file (--data my.csv), or go online.")
    ds = load_dataset(spec.data, spec.config)
    if "train" not in ds:
        raise TaskDataError(f"{spec.data} has no train split; its splits: {', '.join(ds)}")
    feature = ds["train"].features.get(spec.label_column)
    return ds["train"], ds.get("validation"), feature.names if isinstance(feature, ClassLabel) else None


def load_task(spec: TaskSpec, seed: int = 0) -> tuple[DatasetDict, tuple[str, ...], str]:
    """The task's whole data: splits ``train`` and ``validation`` with columns ``sentence`` (str) and ``label``
    (class id); the classes' names by id; where it came from, in words.

    Raises:
        TaskDataError: a missing or empty file, a missing column (the message lists those present),
            one class only, a dev label train lacks, or too few rows to hold out a dev set.
        OfflineAssetError: a hub id while the hub is unreachable.
    """
    names, dev = None, None
    if spec.is_file:
        train, where = read_table(spec.data, spec.delimiter), str(spec.data)
    else:
        train, dev, names = _hub_splits(spec)
        where = spec.data + (f" ({spec.config})" if spec.config else "")
    _check_columns(train, spec, where)
    if spec.dev_data:
        dev = read_table(spec.dev_data, spec.delimiter)
    if dev is not None:
        _check_columns(dev, spec, spec.dev_data or f"{where}, validation split")

    def classes(values) -> list:  # ClassLabel ids -> their names (an id outside them, -1, is reported unknown)
        if names is None:
            return label_values(values)
        return [names[v] if isinstance(v, int) and 0 <= v < len(names) else v for v in values]

    texts, labels = [str(t) for t in train[spec.text_column]], classes(train[spec.label_column])
    dev_texts = [] if dev is None else [str(t) for t in dev[spec.text_column]]
    dev_labels = [] if dev is None else classes(dev[spec.label_column])
    ids, dev_ids, label_names = label_ids(labels, dev_labels, where, names)
    columns = f"text column {spec.text_column!r}, label column {spec.label_column!r}"
    if dev is None:
        keep, held = stratified_holdout(ids, DEV_SHARE, seed)
        if not held:
            raise TaskDataError(f"{where} is too small to hold out a dev set (a class needs two rows): "
                                "add rows or pass --dev-data FILE")
        dev_texts, dev_ids = [texts[i] for i in held], [ids[i] for i in held]
        texts, ids = [texts[i] for i in keep], [ids[i] for i in keep]
        dev_from = f"dev: {DEV_SHARE:.0%} of each class held out of the training rows (seed {seed})"
    else:
        dev_from = f"dev: {spec.dev_data or 'its validation split'}"
    raw = DatasetDict(train=Dataset.from_dict({"sentence": texts, "label": ids}),
                      validation=Dataset.from_dict({"sentence": dev_texts, "label": dev_ids}))
    return raw, label_names, f"{where} ({columns}); {dev_from}"


def data_fingerprint(raw: DatasetDict, label_names: tuple[str, ...]) -> str:
    """12 hex digits that change whenever any sentence, label, split or class name changes."""
    content = [label_names] + [[list(raw[s]["sentence"]), list(raw[s]["label"])] for s in ("train", "validation")]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:12]


def task_data(spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, preset, seed: int = 0) -> TextClassificationData:
    """The task at ``preset``'s sizes, each capped at what the data holds: ``min(train_size, training rows)``
    labelled sentences, then up to ``transfer_size`` of the rows after them without labels (none left: the KD
    student learns from the teacher on the labelled ones), and up to ``dev_size`` dev rows (a seeded subset).

    Raises:
        TaskDataError, OfflineAssetError: see :func:`load_task`.
    """
    raw, label_names, origin = load_task(spec, seed)
    n = len(raw["train"])
    labelled = min(preset.train_size or n, n)
    transfer = min(preset.transfer_size, n - labelled)
    dev = subsample(raw["validation"], preset.dev_size, seed)
    origin += (f"; {len(label_names)} classes: {', '.join(label_names)}; {n:,} training rows, of which preset "
               f"{preset.name} takes up to {preset.train_size or n:,} labelled + {preset.transfer_size:,} unlabelled")
    return TextClassificationData(tokenizer, DatasetDict(train=raw["train"], validation=dev), label_names,
                                  spec.task_name, data_fingerprint(raw, label_names), labelled, None,
                                  preset.max_length, seed, transfer, origin)
