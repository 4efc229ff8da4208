"""Deployment rows: int8 and ONNX copies of a real classifier give its predictions, and are measured
like every row (kd_teach.engine.deploy). No timing is asserted, only that each is measured."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoTokenizer, DistilBertForMaskedLM

from kd_teach.distilbert.student import distilbert_classifier, distilbert_config
from kd_teach.engine.data import make_loader
from kd_teach.engine.deploy import (RUNTIMES, OnnxClassifier, deploy, export_onnx, measure_deployed,
                                    quantize_int8, quantize_onnx_int8, with_runtime_ratios)
from kd_teach.engine.evaluate import predict_logits
from kd_teach.engine.models import build_student, count_parameters, model_inputs, seeded
from kd_teach.engine.presets import StudentSize
from kd_teach.engine.significance import decode_predictions

DynamicLinear = torch.ao.nn.quantized.dynamic.Linear


@pytest.fixture(scope="module")
def dev(smoke_data):
    """All 872 SST-2 dev sentences, tokenised, and their labels."""
    loader = smoke_data.dev_loader(64)
    return loader, torch.cat([b["labels"] for b in loader])


@pytest.fixture(scope="module")
def teacher_logits(smoke_teacher, dev):
    return predict_logits(smoke_teacher[0], dev[0], "cpu")


@pytest.fixture(scope="module")
def onnx_teacher(smoke_teacher, tokenizer, tmp_path_factory):
    """The smoke teacher exported once, and its int8 copy."""
    path = export_onnx(smoke_teacher[0], tokenizer, tmp_path_factory.mktemp("onnx-teacher"))
    return path, quantize_onnx_int8(path)


@pytest.fixture(scope="module")
def tiny_bert(tokenizer):
    """A small BERT student (2 layers, hidden 64) over the teacher's vocabulary."""
    config = AutoConfig.from_pretrained(tokenizer.name_or_path)
    return build_student(config, StudentSize(layers=2, hidden=64, heads=2, ffn=128), seed=0).eval()


@pytest.fixture(scope="module")
def tiny_distilbert(tiny_bert):
    """A DistilBERT classifier (no token types) built by the DistilBERT chapter's own builder."""
    with seeded(0):
        student = DistilBertForMaskedLM(distilbert_config(tiny_bert.config, 2))
    return distilbert_classifier(student).eval()


def batches(tokenizer, sentences):
    """Batches of 1, 3 and 17 sentences, so padded to different lengths (3 to 64 tokens)."""
    out, i = [], 0
    for n in (1, 3, 17):
        out.append(tokenizer(sentences[i:i + n], padding=True, truncation=True, max_length=64, return_tensors="pt"))
        i += n
    return out


def agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.argmax(-1) == b.argmax(-1)).float().mean().item()


def test_int8_is_a_quantised_copy_and_the_original_is_untouched(smoke_teacher):
    model = smoke_teacher[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    q = quantize_int8(model)
    assert q is not model and not q.training
    quantized = [n for n, m in q.named_modules() if isinstance(m, DynamicLinear)]
    assert quantized == linears                                          # every Linear, the classifier included
    assert not [n for n, m in q.named_modules() if type(m) is torch.nn.Linear]
    assert all(type(m) is torch.nn.Linear for n, m in model.named_modules() if n in linears)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_int8_keeps_the_named_layers_in_float32_and_refuses_unknown_names(tiny_bert):
    q = quantize_int8(tiny_bert, keep_float=["classifier"])
    assert type(q.classifier) is torch.nn.Linear and isinstance(q.bert.pooler.dense, DynamicLinear)
    with pytest.raises(ValueError, match=r"keep_float.*'bert\.nope'"):
        quantize_int8(tiny_bert, keep_float=["bert.nope"])


def test_int8_predictions_agree_with_float32_on_real_dev_sentences(smoke_teacher, dev, teacher_logits):
    # Measured on this smoke teacher: torch int8 keeps 96.4% of its 872 dev predictions (96.6% on the cpu
    # teacher); its logits lie within +-1.7, so a flip needs only a small error. 95% leaves 12 sentences of slack.
    # Accuracy is what a deployment is judged on: it moves by a point at most (0.93 on the cpu teacher).
    loader, labels = dev
    z = predict_logits(quantize_int8(smoke_teacher[0]), loader, "cpu")
    assert agreement(z, teacher_logits) >= 0.95
    acc, acc_fp32 = ((x.argmax(-1) == labels).float().mean().item() for x in (z, teacher_logits))
    assert abs(acc - acc_fp32) <= 0.02, (acc, acc_fp32)


def test_onnx_float32_gives_torchs_logits_and_int8_its_predictions(onnx_teacher, dev, teacher_logits):
    # float32 in both runtimes: only the order of the sums differs, ~1e-6 on logits of size ~1 (measured 3e-6).
    loader, labels = dev
    fp32, int8 = (predict_logits(OnnxClassifier(p), loader, "cpu") for p in onnx_teacher)
    assert (fp32 - teacher_logits).abs().max().item() <= 1e-4
    # ONNX Runtime's int8 (per-channel weights, embeddings included) kept 98.7% on this teacher.
    assert agreement(int8, teacher_logits) >= 0.97
    assert abs((int8.argmax(-1) == labels).float().mean() - (teacher_logits.argmax(-1) == labels).float().mean()) <= 0.02


def test_onnx_axes_are_dynamic_batch_and_length(onnx_teacher, smoke_teacher, tokenizer, smoke_data):
    runner = OnnxClassifier(onnx_teacher[0])
    assert sorted(runner.input_names) == ["attention_mask", "input_ids", "token_type_ids"]
    assert all(i.shape == ["batch", "sequence"] for i in runner.session.get_inputs())
    for batch in batches(tokenizer, smoke_data.dev_sentences[::-1]):
        with torch.inference_mode():
            expected = smoke_teacher[0](**model_inputs(smoke_teacher[0], batch)).logits
        got = runner(**model_inputs(runner, batch)).logits
        assert got.shape == expected.shape == (len(batch["input_ids"]), 2)
        assert torch.allclose(got, expected, atol=1e-4)


def test_the_onnx_folder_describes_itself(onnx_teacher, smoke_teacher, tokenizer):
    folder = onnx_teacher[0].parent
    assert AutoConfig.from_pretrained(folder).to_dict()["id2label"] == smoke_teacher[0].config.id2label
    text = "a gripping , funny film"
    assert AutoTokenizer.from_pretrained(folder)(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_distilbert_without_token_types_exports_and_quantises(tiny_distilbert, tokenizer, smoke_data, tmp_path):
    path = export_onnx(tiny_distilbert, tokenizer, tmp_path)
    assert (tmp_path / "config.json").is_file()
    q, runners = quantize_int8(tiny_distilbert), [OnnxClassifier(path), OnnxClassifier(quantize_onnx_int8(path))]
    assert runners[0].input_names == ["input_ids", "attention_mask"]
    for batch in batches(tokenizer, smoke_data.dev_sentences):
        assert "token_type_ids" in batch                                     # given, and ignored
        with torch.inference_mode():
            expected = tiny_distilbert(**model_inputs(tiny_distilbert, batch)).logits
            int8 = q(**model_inputs(q, batch)).logits
        assert torch.allclose(runners[0](**batch).logits, expected, atol=1e-4)
        # an untrained head: logits near 0; int8 errors stay well below their spread
        for z in (int8, runners[1](**batch).logits):
            assert z.shape == expected.shape and (z - expected).abs().max() < 0.05


def test_an_onnx_session_leaves_the_denormal_mode_as_it_found_it(onnx_teacher, tokenizer):
    """ONNX Runtime flushes denormals on the thread that opens a session and never switches back;
    left so, hypothesis (and any numerics after) would run in a non-IEEE mode."""
    from kd_teach.engine.runtime import _denormals_flushed

    assert not _denormals_flushed()
    runner = OnnxClassifier(onnx_teacher[1])
    runner(**tokenizer(["fine ."], return_tensors="pt"))
    assert not _denormals_flushed()


def test_a_missing_input_is_named(onnx_teacher, tokenizer):
    batch = tokenizer(["fine ."], return_tensors="pt")
    with pytest.raises(ValueError, match="token_type_ids"):
        OnnxClassifier(onnx_teacher[0])(batch["input_ids"], batch["attention_mask"])


def test_measure_deployed_measures_every_runtime_like_a_row(tiny_bert, tokenizer, smoke_data, tmp_path):
    dev = smoke_data.dev.select(range(64))
    loader, sentences = make_loader(dev, tokenizer, 32), smoke_data.dev_sentences[:64]
    rows = {r: measure_deployed(tiny_bert, loader, tokenizer, sentences, runtime=r, repeats=1, latency_sentences=8,
                                folder=tmp_path / r) for r in RUNTIMES}
    fp32 = 4 * count_parameters(tiny_bert) / 1e6                               # MB, 4 bytes a parameter
    weights = sum(m.weight.numel() for m in tiny_bert.modules() if isinstance(m, torch.nn.Linear))
    for runtime, m in rows.items():
        assert set(m) == {"runtime", "accuracy", "predictions", "dev_sentences", "params", "size_mb",
                          "latency_ms_b1", "latency_ms_b32"}
        assert m["runtime"] == runtime and m["dev_sentences"] == 64 and m["params"] == count_parameters(tiny_bert)
        assert 0.0 <= m["accuracy"] <= 1.0 and 64 * m["accuracy"] == pytest.approx(round(64 * m["accuracy"]))
        predicted = decode_predictions(m["predictions"])                       # each sentence's class, as rows keep
        assert m["accuracy"] == pytest.approx((predicted == np.array(dev["labels"])).mean(), abs=1e-7)
        assert all(0 < m[k] < 1e4 and math.isfinite(m[k]) for k in ("latency_ms_b1", "latency_ms_b32"))
    assert rows["torch"]["size_mb"] == pytest.approx(fp32, rel=0.01)
    assert rows["onnx"]["size_mb"] == pytest.approx(fp32, rel=0.05)
    # torch int8: Linear weights 1 byte instead of 4, biases and embeddings still float32
    assert rows["torch-int8"]["size_mb"] == pytest.approx(fp32 - 3 * weights / 1e6, rel=0.02)
    assert rows["onnx-int8"]["size_mb"] < 0.35 * fp32                         # the embeddings in int8 too
    assert (tmp_path / "onnx-int8" / "onnx" / "model-int8.onnx").is_file()


@pytest.mark.parametrize("call", [lambda m, t, l, s: measure_deployed(m, l, t, s, runtime="tensorrt"),
                                  lambda m, t, l, s: deploy(m, t, "tensorrt", "unused")])
def test_an_unknown_runtime_is_named_with_the_choices(call, tiny_bert, tokenizer):
    with pytest.raises(ValueError, match=r"runtime must be one of \('torch', 'torch-int8', 'onnx', "
                                         r"'onnx-int8'\), got 'tensorrt'"):
        call(tiny_bert, tokenizer, None, [])


def test_speedups_are_against_the_teacher_in_the_same_runtime():
    rows = [{"name": "teacher", "runtime": "torch", "accuracy": 0.8, "latency_ms_b1": 10.0, "latency_ms_b32": 8.0},
            {"name": "teacher", "runtime": "onnx", "accuracy": 0.8, "latency_ms_b1": 5.0, "latency_ms_b32": 8.0},
            {"name": "student", "runtime": "onnx", "accuracy": 0.6, "latency_ms_b1": 1.0, "latency_ms_b32": 2.0},
            {"name": "student", "runtime": "torch", "accuracy": 0.6, "latency_ms_b1": 2.0, "latency_ms_b32": 2.0},
            {"name": "student", "runtime": "torch-int8", "accuracy": 0.6, "latency_ms_b1": 1.0, "latency_ms_b32": 1.0}]
    out = with_runtime_ratios(rows)
    assert [(r["name"], r["runtime"]) for r in out] == [(r["name"], r["runtime"]) for r in rows]
    assert out[2]["speedup_b1"] == 5.0 and out[3]["speedup_b1"] == 5.0 and out[2]["speedup"] == 4.0
    assert out[2]["share_of_teacher"] == pytest.approx(0.75)
    assert "speedup" not in out[4]                                            # no teacher row in torch-int8
