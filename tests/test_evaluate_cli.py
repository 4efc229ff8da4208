"""``kd-teach evaluate``: labels matched by name, and every wrong input refused in one line with exit code 2.

A real smoke row measured again and compared with its stored row: tests/test_model_folder.py.
"""
import os
import subprocess
import sys

import pytest


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "kd_teach.engine.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, timeout=600)


def _one_line_error(done, *words):
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kd-teach: error: "), done.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("id2label, order", [
    ({0: "negative", 1: "positive"}, [0, 1]),
    ({0: "NEGATIVE", 1: "POSITIVE"}, [0, 1]),              # distilbert-base-uncased-finetuned-sst-2-english
    ({0: "POSITIVE", 1: "NEGATIVE"}, [1, 0]),              # another order: matched by name, not index
    ({0: "neg", 1: "pos"}, [0, 1]),
])
def test_named_labels_are_matched_case_insensitively(id2label, order):
    from kd_teach.engine.measure import label_order

    got, note = label_order(id2label, ("negative", "positive"))
    assert got == order and "by name" in note


def test_unnamed_labels_are_taken_in_index_order_and_said_so():
    from kd_teach.engine.measure import label_order

    order, note = label_order({0: "LABEL_0", 1: "LABEL_1"}, ("negative", "positive"))
    assert order == [0, 1] and "assuming index order" in note and "0 = negative" in note


@pytest.mark.parametrize("id2label, words", [
    ({0: "a", 1: "b", 2: "c"}, "predicts 3 labels"),
    ({0: "joy", 1: "anger"}, "are not the data's"),
    ({0: "positive", 1: "positive"}, "are not the data's"),
])
def test_labels_that_are_not_the_datas_are_refused(id2label, words):
    from kd_teach.engine.measure import label_order

    with pytest.raises(ValueError, match=words):
        label_order(id2label, ("negative", "positive"))


@pytest.mark.slow
def test_a_missing_folder_is_one_line_and_exit_code_2(tmp_path):
    _one_line_error(_cli("evaluate", str(tmp_path / "runs" / "sst2-smoke" / "models" / "nope")), "no model folder at")
    _one_line_error(_cli("evaluate", "runs/nowhere/models/hinton-kd"), "no model folder at 'runs/nowhere")


@pytest.mark.slow
def test_a_folder_that_is_no_model_is_one_line(tmp_path):
    _one_line_error(_cli("evaluate", str(tmp_path)), "not a model folder", "config.json")


@pytest.mark.slow
def test_a_hub_id_offline_is_one_line():
    from huggingface_hub import try_to_load_from_cache

    name = "distilbert-base-uncased-finetuned-sst-2-english"
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        pytest.skip(f"{name} is in the local hub cache, so it loads offline")
    _one_line_error(_cli("evaluate", name), f"cannot fetch {name!r}", "local model folder")


def _tiny_folder(path, num_labels=2, tokenizer=None):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=num_labels)
    BertForSequenceClassification(config).save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
def test_a_folder_without_tokenizer_says_how_to_pass_one(tmp_path):
    """The folders runs saved before this change: weights and config only."""
    _one_line_error(_cli("evaluate", str(_tiny_folder(tmp_path / "old"))), "holds no tokenizer", "--tokenizer")


@pytest.mark.slow
def test_a_model_with_three_labels_is_refused_for_sst2(tmp_path, tokenizer):
    folder = _tiny_folder(tmp_path / "three", num_labels=3, tokenizer=tokenizer)
    _one_line_error(_cli("evaluate", str(folder), "--dev-size", "8"), "predicts 3 labels", "negative, positive")


@pytest.mark.slow
def test_an_encoder_without_a_trained_head_is_refused(tmp_path):
    """The packaged all-MiniLM-L6-v2 is an encoder: a classifier built on it would have a random head."""
    _one_line_error(_cli("evaluate", "all-MiniLM-L6-v2", "--dev-size", "8"), "not a trained sequence classifier",
                    "classifier.weight")
