"""Measure a model as the results table reports it: accuracy, size and CPU latency."""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from kd_teach.engine.data import SST2Data, make_loader, token_lengths
from kd_teach.engine.model_folder import model_dir, save_model_folder
from kd_teach.engine.models import count_parameters, model_inputs, size_on_disk_mb
from kd_teach.engine.runtime import default_device, distributed_state, flush_denormals
from kd_teach.engine.significance import encode_predictions


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, loader: DataLoader,
                   device: str | torch.device | None = None) -> torch.Tensor:
    """Logits of ``model`` over every batch of ``loader``, in loader order.

    Runs on ``device``; by default on the GPU when there is one (the model is moved there, and stays).
    Returns:
        (examples, classes) float32 tensor on the CPU.
    """
    device = torch.device(device) if device is not None else default_device()
    model.eval().to(device)
    out = []
    for batch in loader:
        inputs = {k: v.to(device) for k, v in model_inputs(model, batch).items()}
        out.append(model(**inputs).logits.float().cpu())
    return torch.cat(out)


@torch.inference_mode()
def logits_in_order(model: torch.nn.Module, ds: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64,
                    device: str | torch.device | None = None) -> torch.Tensor:
    """Logits of ``model`` (in eval mode) for every row of ``ds`` (tokenised), in ``ds``'s order.

    Sentences are batched shortest first, so a batch is padded to similar lengths (on SST-2 about
    2x faster than in data set order on dev, 3x on the transfer set), then put back in order.
    Padding is masked out, so only float rounding (about 1e-6 on a logit) tells the two apart.
    Runs on ``device`` (default: the GPU when there is one). Returns (rows, classes), float32, on the CPU.
    """
    lengths = torch.tensor(token_lengths(ds))
    order = torch.argsort(lengths, stable=True)                      # shortest first
    z_sorted = predict_logits(model, make_loader(ds.select(order.tolist()), tokenizer, batch_size), device)
    z = torch.empty_like(z_sorted)
    z[order] = z_sorted                                              # back to ds's order
    return z


def scored_predictions(model: torch.nn.Module, loader: DataLoader,
                       device: str | torch.device | None = None) -> tuple[float, str]:
    """Accuracy on ``loader``'s data set and the predicted class of every example, in loader order,
    as :func:`kd_teach.engine.significance.encode_predictions`'s string (what a row stores, so that two rows can be
    compared sentence by sentence).

    ``loader``: from :func:`kd_teach.engine.data.make_loader` over a tokenised set with ``labels`` (unshuffled); its
    sentences are scored in batches of its batch size, shortest first (:func:`logits_in_order`).
    """
    ds = loader.dataset
    predicted = logits_in_order(model, ds, loader.collate_fn.tokenizer, loader.batch_size, device).argmax(-1)  # (N,)
    labels = torch.as_tensor(ds.with_format(None)["labels"])
    return (predicted == labels).float().mean().item(), encode_predictions(predicted.tolist())


def accuracy(model: torch.nn.Module, loader: DataLoader, device: str | torch.device | None = None) -> float:
    """Share of examples whose argmax logit equals the label (``loader`` as for :func:`scored_predictions`)."""
    return scored_predictions(model, loader, device)[0]


def teacher_logits(teacher: torch.nn.Module, ds: Dataset, tokenizer: PreTrainedTokenizerBase,
                   batch_size: int = 64) -> torch.Tensor:
    """The teacher's logits for every row of ``ds`` (tokenised), in ``ds``'s order: (rows, classes), float32, CPU.

    The teacher is frozen (eval mode, no dropout), so one pass gives exactly the soft targets
    every epoch would recompute (batched shortest first: :func:`logits_in_order`). Runs on the GPU when there is one.
    """
    return logits_in_order(teacher, ds, tokenizer, batch_size)


def latency_ms_per_sentence(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    sentences: list[str],
    batch_size: int,
    repeats: int = 5,
    max_length: int = 64,
) -> float:
    """Median CPU wall time per sentence, in milliseconds, at a given batch size.

    The model is copied to the CPU in float32; each repeat runs every batch of ``sentences``
    (padded to the longest in its batch, as in serving) after one warm-up pass, and the
    median over repeats is divided by the number of sentences. Threads: torch's default.
    No autograd is recorded (``torch.inference_mode``), as in serving: recording it cost about
    10% at batch 1 on a MiniLM teacher, and a runtime without autograd (ONNX Runtime, through
    :class:`kd_teach.engine.deploy.OnnxClassifier`, timed by this same function) must be
    compared with torch on equal terms.
    """
    model = model.to("cpu").eval()
    batches = [model_inputs(model, tokenizer(sentences[i:i + batch_size], padding=True, truncation=True,
                                             max_length=max_length, return_tensors="pt"))
               for i in range(0, len(sentences), batch_size)]

    def one_pass() -> float:
        t0 = time.perf_counter()
        for b in batches:
            model(**b)  # b: only the inputs this model takes (DistilBERT has no token types)
        return time.perf_counter() - t0

    with flush_denormals(), torch.inference_mode():  # as served; denormals can cost ~20x on a CPU
        one_pass()  # warm-up: allocations, lazy init
        seconds = statistics.median(one_pass() for _ in range(repeats))
    return 1000.0 * seconds / len(sentences)


def evaluate(
    model: PreTrainedModel,
    dev_loader: DataLoader,
    tokenizer: PreTrainedTokenizerBase,
    dev_sentences: list[str],
    repeats: int = 5,
    save_dir: str | Path | None = None,
    latency_sentences: int = 64,
    scored: tuple[float, str] | None = None,
) -> dict:
    """Dev accuracy, parameters, size of the weights (MB) and latency (ms/sentence) at batch 1 and 32.

    Args:
        model: a sequence classifier.
        dev_loader: tokenised dev set with ``labels``.
        tokenizer: the model's tokenizer, for the latency runs.
        dev_sentences: raw dev sentences; the first ``latency_sentences`` time the model.
        repeats: timed passes per batch size (median reported).
        save_dir: the model's saved folder, whose weight files are measured
            (:func:`kd_teach.engine.models.size_on_disk_mb`); the model is saved there first if it
            holds no ``config.json``, or to a temporary folder if None.
        scored: ``(accuracy, predictions)`` this very model already scored on this dev set (a cached
            teacher's, :func:`kd_teach.engine.cache.teacher_dev_scores`): the dev pass is skipped, size
            and latency are measured as always.
    Returns:
        dict with ``accuracy``, ``dev_sentences`` (examples in ``dev_loader``), ``predictions`` (the predicted
        class of every dev sentence, in order: :func:`kd_teach.engine.significance.encode_predictions`, so two
        rows can be compared sentence by sentence), ``params``, ``size_mb``, ``latency_ms_b1``, ``latency_ms_b32``.
    """
    acc, predictions = scored or scored_predictions(model, dev_loader)
    metrics = {"accuracy": acc, "dev_sentences": len(dev_loader.dataset), "predictions": predictions,
               "params": count_parameters(model)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(save_dir) if save_dir else Path(tmp)
        if not (folder / "config.json").is_file():
            model.save_pretrained(folder)
        metrics["size_mb"] = size_on_disk_mb(folder)
    sample = dev_sentences[:latency_sentences]
    metrics["latency_ms_b1"] = latency_ms_per_sentence(model, tokenizer, sample, 1, repeats)
    metrics["latency_ms_b32"] = latency_ms_per_sentence(model, tokenizer, sample, 32, repeats)
    return metrics


def save_row_model(model: PreTrainedModel, data: SST2Data, folder: Path) -> Path | None:
    """Save ``model`` as a complete folder (:func:`kd_teach.engine.model_folder.save_model_folder`: weights,
    ``data``'s label names, the tokenizer truncating at ``data.max_length``); the model card is added
    once the row is stamped (``run_sst2``). In a multi-GPU run only the main process writes:
    returns ``folder`` there, None in the others (:func:`evaluate` then measures a temporary copy)."""
    if not distributed_state().is_main_process:
        return None
    return save_model_folder(model, data.tokenizer, folder, data.label_names, max_length=data.max_length)


def finish_row(name: str, stage, data, preset, out: Path, seed: int) -> dict:
    """Save a trained student as a complete model folder under ``out/models/<name>`` (``<name>-seed<N>`` for
    seeds other than 0; :func:`save_row_model`), measure it, drop its checkpoints, return its row.

    Args:
        stage: a :class:`kd_teach.engine.train.StageResult` (the model and its training record).
        data: the :class:`kd_teach.engine.data.SST2Data` it is measured on (dev set).
        preset: gives the evaluation batch size, latency repeats and the preset's name.
        out: the run folder; checkpoints were under ``out/checkpoints/<name>-<preset>-seed<seed>``.
    """
    folder = save_row_model(stage.model, data, model_dir(out, name, seed))  # None: not the main process
    metrics = evaluate(stage.model, data.dev_loader(preset.eval_batch_size), data.tokenizer,
                       data.dev_sentences, preset.latency_repeats, save_dir=folder)
    if folder is not None:
        shutil.rmtree(out / "checkpoints" / f"{name}-{preset.name}-seed{seed}", ignore_errors=True)
    return {"name": name, **metrics, "train_seconds": stage.seconds, "seed": seed, "preset": preset.name}
