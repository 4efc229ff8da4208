"""A saved model folder anyone can use without this package: weights, labels, tokenizer, model card.

Every row of the results table is saved under ``<run>/models/<row>`` (``<row>-seed<N>`` for
seeds other than 0; the teacher under ``teacher``)::

    model.safetensors                        the weights, float32: all that ``size_mb`` measures
    config.json                              the architecture and id2label/label2id (negative, positive)
    tokenizer.json, tokenizer_config.json    the tokenizer the model was trained with; its model_max_length
                                             is the length the course truncates to (64 tokens at every
                                             preset but gpu-full's 128)
    README.md                                the model card: what the row is, its recipe, its measurements,
                                             how to load it (YAML front matter the Hugging Face Hub reads)

``transformers.pipeline("text-classification", model=folder)`` loads it offline; with
``batch_size=64, truncation=True`` it reproduces the row's dev accuracy (tests/test_model_folder.py).
"""
from __future__ import annotations

import copy
import inspect
import json
import shutil
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kd_teach.engine.models import DEFAULT_TEACHER

# What each row is, in one or two plain sentences (the card's first paragraph).
ROW_DESCRIPTIONS = {
    "teacher": "The teacher of the course's table: a pretrained BERT encoder fine-tuned on the labelled "
               "sentences. Every student learnt from it, and every ratio of the table is taken against it.",
    "baseline": "A small BERT student, randomly initialised and trained on the labelled sentences alone "
                "(hard labels, no teacher): the reference every distilled student must beat.",
    "hinton-kd": "The baseline's student (same shape, same initialisation) trained with Hinton et al.'s (2015) "
                 "knowledge distillation: the teacher's soft targets at temperature T plus the hard labels, on "
                 "the labelled sentences and a transfer set the teacher labels.",
    "distilbert": "DistilBERT (Sanh et al. 2019): a student cut from one teacher layer in two, given pre-training "
                  "distillation (L_ce + L_mlm + L_cos) on a general corpus, then trained on the task.",
    "distilbert-init": "DistilBERT's ablation: the student cut from one teacher layer in two, trained on the task "
                       "as `distilbert` is, without pre-training distillation.",
    "distilbert-random": "DistilBERT's Table 4 ablation: a student of `distilbert`'s shape with random weights, "
                         "given the same pre-training distillation and task training: what the teacher's layers buy.",
    "hinton-kd-distilbert-shape": "A random student of DistilBERT's shape trained on the task as `distilbert-init` "
                                  "is (Hinton's KD), with neither the teacher's layers nor pre-training "
                                  "distillation: it separates initialisation from size.",
    "distilbert-1layer": "A student for deployment: DistilBERT's student cut to one teacher layer (of six) with the "
                         "teacher's embeddings, trained on the task as `distilbert-init` is (logit KD on the "
                         "labelled sentences and the transfer set).",
    "tinybert-1layer": "A student for deployment: the teacher cut to its embeddings and layer 0 (as "
                       "`distilbert-1layer`, in BERT's classes), then TinyBERT's task distillation (step 1: the "
                       "teacher's last layer; step 2: its predictions) on the labelled sentences and the transfer set.",
    "tinybert": "TinyBERT (Jiao et al. 2020): general distillation on a corpus, then task distillation on the "
                "labelled sentences and the transfer set (no labels read), step 1 on the teacher's embeddings, "
                "hidden states and attention, step 2 on its predictions.",
    "hinton-kd-tinybert-shape": "The paper's comparison at equal size: a random student of TinyBERT's shape trained "
                                "with Hinton's KD on TinyBERT's task sentences, for as many steps as its two "
                                "task-distillation steps together.",
    "tinybert-aug": "TinyBERT with its data augmentation: task distillation on `tinybert`'s sentences plus "
                    "sentences made from the labelled ones by replacing words (masked-LM and GloVe candidates).",
    "tinybert-same-steps": "TinyBERT's control for augmentation: `tinybert` trained for as many steps as "
                           "`tinybert-aug`, on its own sentences repeated.",
    "tinybert-no-td": "TinyBERT's ablation without task distillation: the general student fine-tuned on the "
                      "labelled sentences' hard labels, as the baseline is trained.",
    "tinybert-no-embd": "TinyBERT's Table 6 ablation: task distillation's step 1 without the embedding loss L_embd.",
    "tinybert-no-hidn": "TinyBERT's Table 6 ablation: task distillation's step 1 without the hidden-state loss L_hidn.",
    "tinybert-no-attn": "TinyBERT's Table 6 ablation: task distillation's step 1 without the attention loss L_attn.",
    "tinybert-no-gd": "TinyBERT's ablation without general distillation: a random student of the same shape "
                      "given both steps of task distillation.",
    "tinybert-no-step1": "TinyBERT's ablation without task distillation's step 1: general distillation, then "
                         "step 2 (the teacher's predictions) only.",
}
DATASETS = {  # the table's task -> (Hub data set id, name, task name) for the card's metadata
    "sst2": ("stanfordnlp/sst2", "SST-2 (GLUE)", "Sentiment analysis"),
}
_NOT_SETTINGS = {"name", "accuracy", "params", "size_mb", "latency_ms_b1", "latency_ms_b32", "speedup", "speedup_b1",
                 "share_of_teacher", "train_seconds", "seed", "preset", "dev_accuracy_per_epoch", "teacher_key",
                 "recipe", "date", "machine", "dev_sentences", "teacher", "cached"}


def model_dir(out: str | Path, name: str, seed: int | None = 0) -> Path:
    """Where a row's model is saved: ``out/models/<name>``, ``<name>-seed<N>`` for seeds other than 0
    (the teacher, fine-tuned once per preset, is always ``out/models/teacher``)."""
    folder = name if name == "teacher" or not seed else f"{name}-seed{seed}"
    return Path(out) / "models" / folder


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path,
                      label_names: tuple[str, ...] | None = None, card_text: str | None = None,
                      max_length: int | None = None) -> Path:
    """Save a complete, standalone model folder, replacing ``folder``; return it.

    Args:
        model: a transformers model (a sequence classifier when ``label_names`` is given).
        tokenizer: the tokenizer it was trained with; a copy is saved, with ``model_max_length``
            set to ``max_length`` and ``model_input_names`` cut to what ``model.forward`` takes
            (DistilBERT has no token types), so ``pipeline(...)`` feeds it as the course did.
        label_names: class names by index (``data.label_names``); written to the config as
            ``id2label``/``label2id`` (in ``model.config`` too).
        card_text: the model card, written as ``README.md`` (:func:`write_model_card` writes it later).
        max_length: the truncation length the model was trained and measured with.
    Raises:
        ValueError: when the model has not ``len(label_names)`` outputs, or ``folder`` is a non-empty
            folder without a ``config.json`` (not a model folder: never deleted).
    """
    folder = Path(folder)
    if label_names is not None:
        if model.config.num_labels != len(label_names):
            raise ValueError(f"the model has {model.config.num_labels} outputs but {len(label_names)} label names "
                             f"were given: {list(label_names)}")
        model.config.id2label = dict(enumerate(label_names))
        model.config.label2id = {n: i for i, n in enumerate(label_names)}
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "config.json").is_file():
        raise ValueError(f"{folder} is not a model folder (no config.json): refusing to replace it")
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    tok = copy.deepcopy(tokenizer)
    if max_length is not None:
        tok.model_max_length = tok.init_kwargs["model_max_length"] = max_length
    accepted = inspect.signature(type(model).forward).parameters
    names = [n for n in tok.model_input_names if n in accepted]
    if names != list(tok.model_input_names):
        tok.model_input_names = tok.init_kwargs["model_input_names"] = names
    backend = getattr(tok, "backend_tokenizer", None)  # tokenizer.json: no state left over from the last call
    if backend is not None:
        backend.no_padding()
        backend.no_truncation() if max_length is None else backend.enable_truncation(max_length)
    tok.save_pretrained(folder)
    if card_text is not None:
        (folder / "README.md").write_text(card_text)
    return folder


def _yaml_front_matter(row: dict, task: str, base_model: str | None, pipeline_tag: str, n_dev: int) -> str:
    hub_id, data_name, task_name = DATASETS.get(task, (None, task, "Text classification"))
    lines = ["---", "library_name: transformers", f"pipeline_tag: {pipeline_tag}", "language: en"]
    if hub_id:
        lines += ["datasets:", f"- {hub_id}"]
    lines += ["metrics:", "- accuracy"] + ([f"base_model: {base_model}"] if base_model else [])
    lines += ["tags:", "- knowledge-distillation", "- kd-teach", f"- {row['name']}", "model-index:",
              f"- name: {row['name']}", "  results:", "  - task:", f"      type: {pipeline_tag}",
              f"      name: {task_name}", "    dataset:", f"      name: {data_name}"]
    lines += [f"      type: {hub_id}"] if hub_id else []
    lines += ["      split: validation", "    metrics:", "    - type: accuracy", f"      value: {row['accuracy']:.4f}",
              f"      name: dev accuracy ({n_dev} sentences)", "---", "", ""]
    return "\n".join(lines)


def _dev_sentences(row: dict, recipe: dict) -> int:
    """Dev sentences the row was measured on (rows before ``dev_sentences`` was stored: the recipe's dev_size)."""
    return row.get("dev_sentences") or recipe.get("dev_size") or 872


def _hub_id(teacher: str | None) -> str | None:
    """The teacher's Hub id, for ``base_model`` (None for a local folder)."""
    if teacher in (None, DEFAULT_TEACHER):
        return f"sentence-transformers/{DEFAULT_TEACHER}"
    return None if Path(teacher).expanduser().exists() or teacher.startswith((".", "/", "~")) else teacher


def _architecture(folder: Path) -> str:
    c = json.loads((folder / "config.json").read_text())
    layers = c.get("num_hidden_layers", c.get("n_layers"))
    hidden, heads = c.get("hidden_size", c.get("dim")), c.get("num_attention_heads", c.get("n_heads"))
    return (f"{c.get('model_type', '?')}, {layers} layers, hidden {hidden}, {heads} heads, "
            f"vocabulary {c.get('vocab_size')}")


def _value(key: str, v) -> str:
    if isinstance(v, float):
        return f"{v:.0f} s" if key.endswith("seconds") else f"{v:g}"
    return ", ".join(map(str, v)) if isinstance(v, list) else str(v)


def _machine(m: dict) -> str:
    where = f"{m.get('cpus')} CPU cores ({m.get('processor')})"
    if m.get("cuda"):
        where = f"a {m['cuda']} GPU (accuracy) and {where} (latency)"
    return f"{where}, torch {m.get('torch')}"


def model_card(row: dict, table: dict, folder: str | Path) -> str:
    """The model card (README.md) of ``row``, a row of ``table`` (a results.json) saved in ``folder``.

    Gives the row's name and what it is, its recipe (preset, recipe key, the row's own settings,
    the architecture), its measurements (dev accuracy, parameters, size, latency at batch 1 and
    32, training time), when and where they were measured, the teacher it learnt from and how
    to load it; the YAML front matter carries the dev accuracy for the Hub.
    """
    folder = Path(folder)
    recipe = table.get("recipes", {}).get(row.get("recipe"), {})
    teacher = next((r for r in table.get("rows", []) if r["name"] == "teacher"), {})
    teacher_name = row.get("teacher") or teacher.get("teacher") or recipe.get("teacher") or DEFAULT_TEACHER
    labels = json.loads((folder / "config.json").read_text()).get("id2label", {})
    label_list = [labels[k] for k in sorted(labels, key=int)]
    is_teacher, n_dev, task = row["name"] == "teacher", _dev_sentences(row, recipe), table.get("task", "sst2")
    data_name = DATASETS.get(task, (None, task))[1]
    kind = "the teacher" if is_teacher else "a student"
    text = _yaml_front_matter(row, task, _hub_id(teacher_name) if is_teacher else None, "text-classification",
                              n_dev)
    text += f"# {row['name']}: {kind} of the kd-teach {data_name} results table\n\n"
    text += ROW_DESCRIPTIONS.get(row["name"], "A model of the course's results table.") + "\n\n"
    share = f" (teacher: {teacher['accuracy']:.4f})" if teacher and not is_teacher else ""
    text += "| measured | |\n|---|---|\n"
    text += f"| dev accuracy | {row['accuracy']:.4f} on {n_dev} {data_name} dev sentences{share} |\n"
    text += f"| parameters | {row['params'] / 1e6:.1f}M ({row['params']:,}) |\n"
    text += f"| size | {row['size_mb']:.1f} MB (the weights, model.safetensors, float32) |\n"
    text += (f"| CPU latency | {row['latency_ms_b1']:.2f} ms per sentence at batch 1, {row['latency_ms_b32']:.2f} at "
             f"batch 32 (median of {recipe.get('latency_repeats', '?')} passes over 64 dev sentences) |\n")
    if row.get("train_seconds") is not None:
        text += f"| training time | {row['train_seconds']:.0f} s |\n"
    if row.get("date"):
        text += f"| measured on | {row['date']} (UTC), {_machine(row.get('machine', {}))} |\n"
    text += "\n## Recipe\n\n"
    text += (f"- preset `{row.get('preset', '?')}`, seed {row.get('seed')}; every setting is under "
             f"`recipes[\"{row.get('recipe', '?')}\"]` in the run's results.json\n")
    n_train = recipe.get("train_size")
    text += (f"- data: {f'{n_train:,}' if n_train else 'all'} labelled training sentences"
             + (f", {recipe['transfer_size']:,} more without labels (the transfer set)" if recipe.get("transfer_size")
                else "") + f", truncated to {recipe.get('max_length', '?')} tokens\n")
    text += f"- architecture: {_architecture(folder)}\n"
    if is_teacher:
        text += (f"- fine-tuned from {teacher_name} for {recipe.get('teacher_epochs', '?')} epochs at learning rate "
                 f"{recipe.get('teacher_lr', '?')}, batch {recipe.get('batch_size', '?')}\n")
    elif row["name"] == "baseline":
        text += "- learnt from: no teacher (hard labels only)\n"
    else:
        text += (f"- learnt from: the `teacher` row, {teacher_name} fine-tuned on {data_name}"
                 + (f" (dev accuracy {teacher['accuracy']:.4f})" if teacher else "") + "\n")
    settings = {k: v for k, v in row.items() if k not in _NOT_SETTINGS and v is not None and not isinstance(v, dict)}
    if settings:
        text += "- settings: " + "; ".join(f"{k} {_value(k, v)}" for k, v in settings.items()) + "\n"
    text += f"""
## Use it

Offline, with transformers alone:

```python
from transformers import pipeline

classify = pipeline("text-classification", model="path/to/{folder.name}")
classify(["a gripping, funny film", "a dull mess"], truncation=True)  # labels: {", ".join(label_list)}
```

The tokenizer is the one the model was trained with; its `model_max_length` is the
{recipe.get('max_length', '?')} tokens the course truncates to, which `truncation=True` applies.
Classifying the dev sentences with `batch_size=64, truncation=True` gives the accuracy
above. `kd-teach evaluate path/to/{folder.name}` measures it again as the results table does.
"""
    return text


def write_model_card(folder: str | Path, row: dict, table: dict) -> Path:
    """Write :func:`model_card` to ``folder/README.md``; return that path."""
    path = Path(folder) / "README.md"
    path.write_text(model_card(row, table, folder))
    return path


def write_model_cards(out: str | Path, table: dict, rows: list[dict]) -> list[Path]:
    """A card for each of ``rows`` whose model folder exists under ``out`` (:func:`model_dir`), written from
    ``table``'s copy of the row (with its ratios to the teacher); return the cards written."""
    stored = {(r["name"], r.get("seed")): r for r in table.get("rows", [])}
    written = []
    for r in rows:
        folder = model_dir(out, r["name"], r.get("seed"))
        if (folder / "config.json").is_file():
            written.append(write_model_card(folder, stored.get((r["name"], r.get("seed")), r), table))
    return written


def pretrained_student_card(steps: int, masked_accuracy: float, max_length: int) -> str:
    """The card of ``distilbert-pretrained``: DistilBERT's student after pre-training distillation, before the task."""
    return f"""---
library_name: transformers
pipeline_tag: fill-mask
language: en
tags:
- knowledge-distillation
- kd-teach
---

# distilbert-pretrained: DistilBERT's student before the task

The `distilbert` row's student after pre-training distillation (L_ce + L_mlm + L_cos, {steps} steps on
the general corpus), before it was trained on the task: a masked-language model, not a row of
the results table. Held-out masked-token accuracy {masked_accuracy:.4f} (chunks of {max_length} tokens).

```python
from transformers import pipeline

fill = pipeline("fill-mask", model="path/to/distilbert-pretrained")
fill("the film was [MASK].")
```
"""
