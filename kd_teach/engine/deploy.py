"""Deployment rows: one trained classifier served four ways on a CPU, each measured like every row.

:data:`RUNTIMES`:

- ``"torch"``: the model as trained, float32, in PyTorch (what every row of the results table is).
- ``"torch-int8"``: PyTorch's dynamic int8 quantisation (:func:`quantize_int8`): every ``nn.Linear``
  stores int8 weights (one scale per output row) and quantises its input to uint8 on the fly, per
  batch; the embeddings and LayerNorms stay float32.
- ``"onnx"``: the model exported to ONNX (:func:`export_onnx`) and run by ONNX Runtime, float32.
- ``"onnx-int8"``: that ONNX file through ONNX Runtime's dynamic int8 quantisation
  (:func:`quantize_onnx_int8`): the same scheme, and the embedding table in int8 too.

:func:`measure_deployed` returns :func:`kd_teach.engine.evaluate.evaluate`'s dict (dev accuracy,
parameters, size, CPU latency at batch 1 and 32) plus ``runtime``, from the same accuracy and
latency functions: :class:`OnnxClassifier` is an ``nn.Module`` whose ``forward`` returns
``.logits``, so ``accuracy`` and ``latency_ms_per_sentence`` time ONNX Runtime exactly as they
time torch. A speed-up is only meaningful between two models in the same runtime, measured in
the same run (:func:`with_runtime_ratios`): the teacher is deployed the same four ways.

Why these APIs (torch 2.13, onnxruntime 1.32, measured on 2 CPU cores, December 2026):

- **torch int8**: ``torch.ao.quantization.quantize_dynamic`` is deprecated in favour of torchao's
  ``quantize_`` (torch 2.13 warns it will be removed; pytorch/ao#2259). But torchao's int8
  (``Int8DynamicActivationInt8WeightConfig``) ran the smoke teacher no faster than float32 in eager
  mode (its CPU kernels need ``torch.compile``), where ``quantize_dynamic``'s x86/fbgemm kernels ran
  it 3x faster at batch 1. So ``quantize_dynamic`` it is, its deprecation warnings silenced here; a
  torch without it raises a RuntimeError that points to ``"onnx-int8"``, which does not need it.
- **Export**: ``torch.onnx.export(..., dynamo=True)``, torch's own exporter (the default in torch
  2.13; it needs ``onnxscript``), with dynamic batch and sequence axes. It exports BERT and
  DistilBERT (no token types) alike, and its float32 logits match torch's within 1e-5.
  ``optimum-onnx`` was considered and left out: it requires transformers < 4.58, and the course
  runs transformers 5 (pip would downgrade it).
- **ONNX int8**: ``onnxruntime.quantization.quantize_dynamic`` with per-channel int8 weights
  (per-tensor weights flipped 4% of the smoke teacher's dev predictions, per-channel 1.3%, at the
  same speed). ONNX Runtime's advised pre-processing fails on the dynamo export (symbolic shape
  inference); its other steps changed neither predictions nor speed, so it is not run.
- **Threads**: ONNX Runtime runs ``torch.get_num_threads()`` intra-op threads and one inter-op
  thread, with denormals flushed to zero, as torch is timed (``flush_denormals``): the same
  cores and numerics for both.

What int8 costs: on the ``cpu`` teacher (all-MiniLM-L6-v2 fine-tuned, 0.8337 dev accuracy),
torch int8 kept 96.6% of its predictions and 0.8245 accuracy. Most of the loss is in each layer's
second FFN matrix, whose input (after GELU) has outliers (Bondarenko et al. 2021, "Understanding
and Overcoming the Challenges of Efficient Transformer Quantization"): with those six kept in
float32 (``keep_float``) it kept 97.8% of the predictions and 0.8372 accuracy, at about 1.8x the
float32 speed at batch 1 instead of 3x. ONNX Runtime's int8 kept 0.8326.

Sources: PyTorch's "Dynamic quantization on BERT" tutorial; torch.onnx's exporter documentation;
ONNX Runtime's "Quantize ONNX models" page.
"""
from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from collections.abc import Collection
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import SequenceClassifierOutput

from kd_teach.engine.evaluate import latency_ms_per_sentence, scored_predictions
from kd_teach.engine.models import count_parameters, model_inputs, size_on_disk_mb
from kd_teach.engine.report import with_teacher_ratios
from kd_teach.engine.runtime import flush_denormals

RUNTIMES = ("torch", "torch-int8", "onnx", "onnx-int8")
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # DistilBERT's graph has no token_type_ids
QUANTIZED_ENGINES = ("x86", "fbgemm", "qnnpack")  # x86 CPUs (x86 = fbgemm + oneDNN), ARM


def check_runtime(runtime: str) -> None:
    """Raises ValueError unless ``runtime`` is one of :data:`RUNTIMES`."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")


def _quantized_engine() -> str:
    """The engine of torch's quantized kernels: torch's default when it is a CPU engine, else the
    first supported one (weights are packed for it when quantised, and run by it)."""
    engine = torch.backends.quantized.engine
    if engine in QUANTIZED_ENGINES:
        return engine
    for e in QUANTIZED_ENGINES:
        if e in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = e
            return e
    raise RuntimeError(f"this torch build has no int8 CPU engine (supported: "
                       f"{torch.backends.quantized.supported_engines}); use runtime 'onnx-int8'")


def quantize_int8(model: torch.nn.Module, keep_float: Collection[str] = ()) -> torch.nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` dynamically quantised to int8, for the CPU.

    Weights: int8, symmetric, one scale per output row. Activations: quantised to uint8 per batch
    (their range measured on the fly: no calibration data). The copy is on the CPU in eval mode;
    ``model`` is left as it was.

    Args:
        model: a classifier (``BertForSequenceClassification``, ``DistilBertForSequenceClassification``).
        keep_float: names of Linear modules to leave in float32 (``model.named_modules()`` names).
    Returns:
        The quantised copy (``torch.ao.nn.quantized.dynamic.Linear`` modules in place of Linear).
    Raises:
        ValueError: a name of ``keep_float`` is not a Linear module of ``model``.
        RuntimeError: this torch has no ``torch.ao.quantization.quantize_dynamic`` or no int8 CPU engine.
    """
    linears = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    unknown = sorted(set(keep_float) - set(linears))
    if unknown:
        raise ValueError(f"keep_float must name Linear modules of the model, got {unknown}")
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError:
        raise RuntimeError(f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic "
                           "(deprecated, see pytorch/ao#2259); use runtime 'onnx-int8'") from None
    _quantized_engine()
    spec = {name: per_channel_dynamic_qconfig for name in linears if name not in keep_float}
    with warnings.catch_warnings():  # torch 2.13 warns that torch.ao.quantization and qint8 tensors are deprecated
        warnings.filterwarnings("ignore", message=r"(?s).*torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r"(?s).*quantize_per_tensor.*deprecated")
        return quantize_dynamic(copy.deepcopy(model).cpu().eval(), spec, dtype=torch.qint8, inplace=True)


@contextmanager
def _quiet_export():
    """The exporter's and the quantiser's log lines and warnings (torchvision absent, axis names,
    "consider pre-processing") are not the learner's business: hide them, restore the state after."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    disabled = logging.root.manager.disable
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    logging.disable(logging.WARNING)  # onnxruntime.quantization logs on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_onnx(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> Path:
    """Export a sequence classifier to ``folder/model.onnx``, with its config and tokenizer beside it.

    Inputs ``input_ids``, ``attention_mask`` (and ``token_type_ids`` for BERT), int64, shaped
    (batch, sequence) with both axes dynamic; output ``logits`` (batch, classes), float32. One file,
    weights included (ONNX's 2 GB limit: BERT-large fits). The model is moved to the CPU and
    exported in eval mode; its training mode is restored after.

    Returns:
        The path of ``model.onnx``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    example = tokenizer(["a short one .", "a longer example , for the exporter to trace ."],
                        padding=True, return_tensors="pt")           # batch 2, length > 2: axes stay dynamic
    inputs = {k: v for k, v in model_inputs(model, example).items() if k in ONNX_INPUTS}
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    was_training = model.training
    model.to("cpu").eval()
    try:
        with _quiet_export():
            torch.onnx.export(model, (), folder / "model.onnx", kwargs=inputs, input_names=list(inputs),
                              output_names=["logits"], dynamic_shapes={k: {0: batch, 1: sequence} for k in inputs},
                              dynamo=True, external_data=False, verbose=False)
    finally:
        model.train(was_training)
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder / "model.onnx"


def quantize_onnx_int8(onnx_path: str | Path, out_path: str | Path | None = None) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of an exported model: ``model-int8.onnx`` beside it.

    Weights of MatMul and Gather (the embeddings) become int8, one scale per channel; activations
    are quantised to uint8 per batch on the fly.

    Returns:
        The path of the quantised file.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    onnx_path = Path(onnx_path)
    out_path = Path(out_path) if out_path else onnx_path.with_name(onnx_path.stem + "-int8.onnx")
    with _quiet_export():
        quantize_dynamic(onnx_path, out_path, weight_type=QuantType.QInt8, per_channel=True)
    return out_path


class OnnxClassifier(torch.nn.Module):
    """An ONNX Runtime session that the package measures like a transformers classifier.

    ``forward(input_ids, attention_mask, token_type_ids)`` takes torch tensors and returns an output
    with ``.logits`` (float32, on the inputs' device), so :func:`kd_teach.engine.evaluate.accuracy`
    and :func:`kd_teach.engine.evaluate.latency_ms_per_sentence` run it unchanged. The CPU provider
    runs ``threads`` intra-op threads (default ``torch.get_num_threads()``, what torch uses, so a
    comparison with torch is on the same cores), one inter-op thread, denormals flushed to zero as
    torch's latency runs do. It has no parameters of its own: count the source model's.

    Args:
        path: an ``.onnx`` file, or a folder holding ``model.onnx``.
        threads: intra-op threads.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        path = Path(path)
        self.path = path / "model.onnx" if path.is_dir() else path
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        with flush_denormals():  # ORT sets the calling thread's denormal mode and never resets it
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> SequenceClassifierOutput:
        """Logits (batch, classes) for a tokenised batch; inputs the graph does not take are ignored.

        Raises:
            ValueError: an input the graph needs is None.
        """
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        missing = [n for n in self.input_names if given.get(n) is None]
        if missing:
            raise ValueError(f"{self.path.name} needs inputs {self.input_names}, got none for {missing}")
        feed = {n: given[n].detach().cpu().numpy().astype(np.int64) for n in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return SequenceClassifierOutput(logits=torch.from_numpy(logits).to(input_ids.device))


def deploy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, runtime: str,
           folder: str | Path) -> tuple[torch.nn.Module, float]:
    """``model`` made ready to serve in ``runtime``, its files written under ``folder``.

    Returns:
        (runner, size_mb): a module whose ``forward`` gives ``.logits``, and the size in MB (10^6
        bytes) of the weight file the runtime loads, as the results table's ``size_mb`` counts
        (no config, no tokenizer): ``model.safetensors`` (torch), the int8 state dict saved by
        ``torch.save`` (torch-int8), ``model.onnx`` and ``model-int8.onnx`` (weights inside).
    Raises:
        ValueError: ``runtime`` is not one of :data:`RUNTIMES`.
    """
    check_runtime(runtime)
    folder = Path(folder)
    if runtime == "torch":
        model.save_pretrained(folder / "torch")
        return model, size_on_disk_mb(folder / "torch")
    if runtime == "torch-int8":
        quantized = quantize_int8(model)
        path = folder / "torch-int8" / "model-int8.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(quantized.state_dict(), path)
        return quantized, path.stat().st_size / 1e6
    path = export_onnx(model, tokenizer, folder / "onnx")
    if runtime == "onnx-int8":
        path = quantize_onnx_int8(path)
    return OnnxClassifier(path), path.stat().st_size / 1e6


def measure_deployed(model: PreTrainedModel, dev_loader: DataLoader, tokenizer: PreTrainedTokenizerBase,
                     dev_sentences: list[str], runtime: str = "torch", repeats: int = 5,
                     latency_sentences: int = 64, folder: str | Path | None = None) -> dict:
    """Measure ``model`` served in ``runtime`` on the CPU, as :func:`kd_teach.engine.evaluate.evaluate`
    measures a row: the same dev loader, latency sentences, batch sizes and repeats.

    Args:
        model: a sequence classifier (float32; it is left unchanged, but moved to the CPU).
        dev_loader, tokenizer, dev_sentences, repeats, latency_sentences: as for ``evaluate``.
        runtime: one of :data:`RUNTIMES`.
        folder: where the deployed files are written (a temporary folder, removed after, if None).
    Returns:
        dict with ``runtime``, ``accuracy``, ``predictions`` (each dev sentence's predicted class, as a row
        stores them), ``dev_sentences``, ``params`` (the source model's: int8
        stores the same parameters in fewer bytes), ``size_mb`` (see :func:`deploy`),
        ``latency_ms_b1`` and ``latency_ms_b32`` (ms per sentence).
    Raises:
        ValueError: ``runtime`` is not one of :data:`RUNTIMES`.
    """
    check_runtime(runtime)
    with tempfile.TemporaryDirectory() as tmp:
        runner, size_mb = deploy(model, tokenizer, runtime, folder or tmp)
        sample = dev_sentences[:latency_sentences]
        acc, predictions = scored_predictions(runner, dev_loader, device="cpu")
        return {"runtime": runtime, "accuracy": acc, "predictions": predictions,
                "dev_sentences": len(dev_loader.dataset), "params": count_parameters(model), "size_mb": size_mb,
                "latency_ms_b1": latency_ms_per_sentence(runner, tokenizer, sample, 1, repeats),
                "latency_ms_b32": latency_ms_per_sentence(runner, tokenizer, sample, 32, repeats)}


def with_runtime_ratios(rows: list[dict]) -> list[dict]:
    """Add ``share_of_teacher``, ``speedup`` (batch 32) and ``speedup_b1`` to rows that carry a
    ``name`` and a ``runtime``, each against the row named ``teacher`` *in the same runtime*
    (:func:`kd_teach.engine.report.with_teacher_ratios`); rows of a runtime without a teacher row
    are returned as they are. Order is kept."""
    ratios = {}
    for runtime in dict.fromkeys(r["runtime"] for r in rows):
        group = [r for r in rows if r["runtime"] == runtime]
        ratios.update({(r["name"], runtime, r.get("seed")): r for r in with_teacher_ratios(group)})
    return [ratios[(r["name"], r["runtime"], r.get("seed"))] for r in rows]
