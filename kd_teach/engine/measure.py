"""``kd-teach evaluate PATH_OR_HUB_ID``: measure any sequence classifier as the results table measures its rows.

Dev accuracy, parameters, size of the weights (MB) and CPU latency (ms per sentence at batch 1
and 32), by the table's own :func:`kd_teach.engine.evaluate.evaluate`, on the same dev sentences,
truncation length and batch sizes. A learner can so put their own student, or a published one
(``distilbert-base-uncased-finetuned-sst-2-english`` when online), beside the course's rows.

A folder saved by a run (``runs/<run>/models/<row>``) is measured with that run's recipe and
printed beside its row of ``runs/<run>/results.json``; any other model with the ``--preset``
(default ``$KD_TEACH_PRESET`` or ``cpu``). The model's labels are matched to the data's by
name (``id2label``, case-insensitive: NEGATIVE/POSITIVE or neg/pos), or taken in index order
when unnamed (LABEL_0, LABEL_1), which the output says.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.report import COLUMNS, load_results

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model")
MEASURED = ("accuracy", "params", "size_mb", "latency_ms_b1", "latency_ms_b32")


def stored_row(folder: str | Path) -> tuple[dict | None, dict | None]:
    """The row of ``<run>/results.json`` that ``<run>/models/<row>`` (``<row>-seed<N>``) was saved for.

    Returns:
        (row, table); (None, table) when the table has no such row; (None, None) when ``folder``
        is not a run's model folder.
    """
    folder = Path(folder).expanduser().resolve()
    results = folder.parent.parent / "results.json"
    if folder.parent.name != "models" or not results.is_file():
        return None, None
    table = load_results(results)
    m = re.fullmatch(r"(.+)-seed(\d+)", folder.name)
    name, seed = (m[1], int(m[2])) if m else (folder.name, 0)
    for r in table["rows"]:
        if r["name"] == name and (name == "teacher" or (r.get("seed") or 0) == seed):
            return r, table
    return None, table


def label_order(id2label: dict, label_names: tuple[str, ...]) -> tuple[list[int], str]:
    """Which of the data's labels each model output is, and how that was decided.

    Args:
        id2label: the model config's, output index -> name (``{0: "NEGATIVE", 1: "POSITIVE"}``).
        label_names: the data's class names by label index (``data.label_names``).
    Returns:
        (``order``, note): output ``i`` is the data's label ``order[i]``. Names are matched
        case-insensitively (a name of 3 letters or more may abbreviate: ``neg``); unnamed
        outputs (``LABEL_0``, ``0``) are taken in index order.
    Raises:
        ValueError: for a model with another number of outputs, or named labels that are not the data's.
    """
    n, wanted = len(id2label), [w.lower() for w in label_names]
    if n != len(label_names):
        raise ValueError(f"the model predicts {n} labels; the data has {len(label_names)} ({', '.join(label_names)})")
    names = [str(id2label[i]).strip().lower() for i in range(n)]
    order = []
    for name in names:
        hits = [j for j, w in enumerate(wanted) if name == w or (len(name) >= 3 and w.startswith(name))]
        order.append(hits[0] if len(hits) == 1 else None)
    if None not in order and sorted(order) == list(range(n)):
        return order, "labels by name (id2label): " + ", ".join(f"{id2label[i]} = {label_names[order[i]]}"
                                                               for i in range(n))
    if all(re.fullmatch(r"(label_)?\d+", x) for x in names):
        return list(range(n)), ("the model's labels are unnamed (" + ", ".join(str(id2label[i]) for i in range(n))
                                + "): assuming index order, " + ", ".join(f"{i} = {w}"
                                                                          for i, w in enumerate(label_names)))
    raise ValueError(f"the model's labels ({', '.join(str(id2label[i]) for i in range(n))}) are not the data's "
                     f"({', '.join(label_names)})")


def _source(name: str) -> str:
    """A folder or hub id ``from_pretrained`` can load now (:func:`kd_teach.engine.models.resolve_teacher`).

    Raises:
        FileNotFoundError: a path (``./x``, ``a/b/c``) that is no folder.
        ValueError: a folder without ``config.json``.
        OfflineAssetError: a hub id that is neither cached nor reachable.
    """
    from kd_teach.engine.models import quiet_transformers, resolve_teacher

    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{name} is not a model folder: it has no config.json")
        return str(path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise FileNotFoundError(f"no model folder at {name!r}")
    return resolve_teacher(name, "Check the name, or go online")


def measure(name: str, preset: str | None = None, dev_size: int | None = None,
            tokenizer: str | None = None) -> dict:
    """Measure the sequence classifier ``name`` (a folder or hub id) on the data's dev set.

    Args:
        preset: whose dev size, truncation length, batch size and latency repeats to use;
            None: the recipe of the run the folder was saved by, else ``$KD_TEACH_PRESET`` or ``cpu``.
        dev_size: the first N dev sentences instead of the preset's.
        tokenizer: a tokenizer folder or hub id, for a folder saved without one.
    Returns:
        ``{"model", "preset", "dev_sentences", "max_length", "labels" (how labels were matched),
        "measured" (evaluate's dict), "stored" (the run's row or None), "stored_in" (its results.json or None)}``.
    Raises:
        FileNotFoundError, ValueError, OfflineAssetError: one line each, saying what is wrong.
    """
    from kd_teach.engine.presets import get_preset

    source = _source(name)                               # errors that need no model come first, and fast
    row, table = stored_row(source) if Path(source).is_dir() else (None, None)
    recipe = table.get("recipes", {}).get(row.get("recipe")) if row and not preset else None
    settings = recipe or get_preset(preset or (row or {}).get("preset")).to_dict()
    if dev_size is not None:
        if dev_size < 1:
            raise ValueError(f"--dev-size must be at least 1, got {dev_size}")
        settings = {**settings, "dev_size": dev_size}
    if tokenizer is None and Path(source).is_dir() and not any((Path(source) / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(f"{name} holds no tokenizer (a folder saved by kd-teach before tokenizers were saved with "
                         "the model?): pass --tokenizer NAME, e.g. --tokenizer all-MiniLM-L6-v2")

    import torch
    from datasets import disable_progress_bars
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from kd_teach.engine.data import SST2Data, make_loader
    from kd_teach.engine.evaluate import evaluate
    from kd_teach.engine.models import quiet_transformers, resolve_teacher

    disable_progress_bars()
    hf_logging.disable_progress_bar()
    with quiet_transformers():
        config = AutoConfig.from_pretrained(source)
        tok = AutoTokenizer.from_pretrained(resolve_teacher(tokenizer) if tokenizer else source)
        if len(tok) > config.vocab_size or len(tok) < config.vocab_size // 2:
            raise ValueError(f"the tokenizer has {len(tok):,} tokens for a model whose vocabulary has "
                             f"{config.vocab_size:,}: not the model's tokenizer (pass --tokenizer NAME)")
        data = SST2Data(tok, train_size=1, dev_size=settings["dev_size"], max_length=settings["max_length"])  # dev only
        order, labels_note = label_order(config.id2label, data.label_names)
        model, info = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32,
                                                                         output_loading_info=True)
    if info["missing_keys"]:
        raise ValueError(f"{name} is not a trained sequence classifier: these weights are missing from it and "
                         f"would start random: {', '.join(sorted(info['missing_keys'])[:4])}")
    dev = data.dev
    if order != list(range(len(order))):  # relabel dev: each sentence's label becomes the model's output index
        model_index = {label: i for i, label in enumerate(order)}
        dev = dev.map(lambda b: {"labels": [model_index[y] for y in b["labels"]]}, batched=True)
    metrics = evaluate(model, make_loader(dev, tok, settings["eval_batch_size"]), tok, data.dev_sentences,
                       settings["latency_repeats"])
    return {"model": name, "preset": settings["name"], "dev_sentences": metrics["dev_sentences"],
            "max_length": settings["max_length"], "labels": labels_note, "measured": metrics, "stored": row,
            "stored_in": str(Path(source).resolve().parent.parent / "results.json") if table else None}


def _line(label: str, row: dict) -> str:
    fmt = {key: f for key, _, f in COLUMNS}
    cells = [f"{row['params'] / 1e6:.1f}" if k == "params" else fmt[k].format(row[k]) for k in MEASURED]
    return f"| {label} | " + " | ".join(cells) + " |"


def report_text(result: dict) -> str:
    """What ``kd-teach evaluate`` prints: the settings, then a table of the measurement and the stored row."""
    headers = {key: h for key, h, _ in COLUMNS}
    lines = [f"{result['model']}: dev accuracy on {result['dev_sentences']} SST-2 dev sentences, truncated to "
             f"{result['max_length']} tokens (preset {result['preset']}); size: the weights; latency: CPU, "
             "ms per sentence", result["labels"], "",
             "| model | " + " | ".join(headers[k] for k in MEASURED) + " |", "|---|" + "---|" * len(MEASURED),
             _line("measured now", result["measured"])]
    row = result["stored"]
    if row:
        lines.append(_line(f"stored: {row['name']}, seed {row.get('seed')}, {str(row.get('date', '?'))[:10]}", row))
        lines += ["", f"stored row from {result['stored_in']}"]
    elif result["stored_in"]:
        lines += ["", f"{result['stored_in']} has no row for this folder"]
    return "\n".join(lines)


def evaluate_command(args: argparse.Namespace) -> int:
    """``kd-teach evaluate``: print the measurement (``--json``: as JSON); 2 with one line on stderr on an error."""
    try:
        result = measure(args.model, args.preset, args.dev_size, args.tokenizer)
    except (FileNotFoundError, ValueError, OSError, OfflineAssetError) as err:
        print("kd-teach: error: " + " ".join(str(err).split()), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if args.json else report_text(result))
    return 0
