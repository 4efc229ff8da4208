"""A saved row is a complete model folder: transformers alone loads it and gets the row's accuracy back.

The slow tests save one real smoke row (hinton-kd, and the teacher's copy) through ``run_sst2``,
then load it with ``pipeline("text-classification", model=DIR)`` in a Python that never imports
kd_teach, read its model card, and measure it again with ``kd-teach evaluate``.
"""
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import yaml
from transformers import BertConfig, BertForSequenceClassification, DistilBertConfig, DistilBertForSequenceClassification

from kd_teach.engine.model_folder import model_card, model_dir, save_model_folder
from kd_teach.engine.models import size_on_disk_mb

FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"}


def _tiny_bert(num_labels=2):
    return BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                    intermediate_size=64, num_labels=num_labels))


def test_model_dir_names_seeds_and_the_teacher(tmp_path):
    assert model_dir(tmp_path, "hinton-kd", 0) == tmp_path / "models" / "hinton-kd"
    assert model_dir(tmp_path, "hinton-kd", 2) == tmp_path / "models" / "hinton-kd-seed2"
    assert model_dir(tmp_path, "teacher", 3) == tmp_path / "models" / "teacher"


def test_a_saved_folder_has_labels_tokenizer_and_card(tmp_path, tokenizer):
    folder = save_model_folder(_tiny_bert(), tokenizer, tmp_path / "m", ("negative", "positive"), "# card\n", 64)
    assert {p.name for p in folder.iterdir()} == FILES
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 64
    assert tokenizer.model_max_length != 64                       # the caller's tokenizer is left as it was


def test_distilbert_folders_drop_token_type_ids(tmp_path, tokenizer):
    """DistilBERT takes no token types: its saved tokenizer must not produce them for pipeline(...)."""
    from transformers import AutoTokenizer

    model = DistilBertForSequenceClassification(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    folder = save_model_folder(model, tokenizer, tmp_path / "d", ("negative", "positive"), max_length=64)
    assert set(AutoTokenizer.from_pretrained(folder)("a fine film")) == {"input_ids", "attention_mask"}
    assert "token_type_ids" in tokenizer("a fine film")


def test_saving_refuses_a_wrong_label_count_and_a_folder_that_is_not_a_model(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="3 outputs but 2 label names"):
        save_model_folder(_tiny_bert(3), tokenizer, tmp_path / "m", ("negative", "positive"))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a model folder"):
        save_model_folder(_tiny_bert(), tokenizer, tmp_path / "notes", ("negative", "positive"))
    assert (tmp_path / "notes" / "mine.txt").is_file()


def test_size_counts_the_weights_only(tmp_path, tokenizer):
    folder = save_model_folder(_tiny_bert(), tokenizer, tmp_path / "m", ("negative", "positive"), "# a card\n" * 999)
    assert size_on_disk_mb(folder) == (folder / "model.safetensors").stat().st_size / 1e6
    with pytest.raises(FileNotFoundError, match="no model weights"):
        size_on_disk_mb(tmp_path)


def test_the_card_carries_the_rows_numbers_and_hub_metadata(tmp_path, tokenizer):
    folder = save_model_folder(_tiny_bert(), tokenizer, tmp_path / "models" / "hinton-kd", ("negative", "positive"))
    row = {"name": "hinton-kd", "accuracy": 0.79587, "dev_sentences": 872, "params": 11_234_567, "size_mb": 44.6933,
           "latency_ms_b1": 3.14159, "latency_ms_b32": 0.51234, "train_seconds": 123.4, "seed": 0, "preset": "cpu",
           "recipe": "cpu-abc", "T": 4.0, "alpha": 0.1, "date": "2026-12-03T10:00:00+00:00",
           "machine": {"cpus": 2, "processor": "x86_64", "torch": "2.13.0+cpu", "cuda": None}}
    table = {"task": "sst2", "recipes": {"cpu-abc": {"max_length": 64, "train_size": 2000, "transfer_size": 30256,
                                                     "latency_repeats": 5}},
             "rows": [{"name": "teacher", "accuracy": 0.8337, "teacher": "all-MiniLM-L6-v2"}, row]}
    text = model_card(row, table, folder)
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "transformers" and front["pipeline_tag"] == "text-classification"
    assert front["datasets"] == ["stanfordnlp/sst2"] and front["metrics"] == ["accuracy"]
    assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == 0.7959
    for shown in ("# hinton-kd: a student", "0.7959 on 872", "(teacher: 0.8337)", "11.2M", "44.7 MB", "3.14 ms",
                  "0.51 at batch 32", "123 s", "2026-12-03", "2 CPU cores", "preset `cpu`", "T 4; alpha 0.1",
                  "30,256 more without labels", "all-MiniLM-L6-v2 fine-tuned", 'pipeline("text-classification"',
                  "labels: negative, positive", "Hinton"):
        assert shown in text, shown


# --- one real smoke row, saved by run_sst2 ------------------------------------------------------------------

PIPELINE_SCRIPT = """
import json, sys
from transformers import pipeline

dev = json.load(open(sys.argv[1]))
out = {}
for folder in sys.argv[2:]:
    classify = pipeline("text-classification", model=folder)
    label2id = classify.model.config.label2id
    predicted = [label2id[p["label"]] for p in classify(dev["sentences"], batch_size=64, truncation=True)]
    out[folder] = sum(p == y for p, y in zip(predicted, dev["labels"]))
assert "kd_teach" not in sys.modules, "the check must not import kd_teach"
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def smoke_row(tmp_path_factory, smoke_preset, smoke_teacher):
    """A run folder holding the teacher and a hinton-kd row: the smoke preset, shortened (the same cached
    teacher, no transfer set, one KD epoch, the first 200 dev sentences)."""
    from kd_teach.engine.pipeline import run_sst2

    out = tmp_path_factory.mktemp("sst2-smoke")
    preset = replace(smoke_preset, transfer_size=0, kd_epochs=1, dev_size=200, latency_repeats=1)
    table = run_sst2(preset, out, rows="hinton-kd", log=lambda *_: None)
    return out, {r["name"]: r for r in table["rows"]}


@pytest.mark.slow
def test_transformers_alone_reproduces_the_stored_accuracy(smoke_row, smoke_data, tmp_path):
    out, rows = smoke_row
    folders = [model_dir(out, "hinton-kd"), model_dir(out, "teacher")]
    for folder in folders:
        assert FILES <= {p.name for p in folder.iterdir()}, folder
    n = rows["hinton-kd"]["dev_sentences"]
    assert n == rows["teacher"]["dev_sentences"] == 200
    dev = {"sentences": smoke_data.dev_sentences[:n], "labels": smoke_data.dev_raw["label"][:n]}
    (tmp_path / "dev.json").write_text(json.dumps(dev))
    (tmp_path / "check.py").write_text(PIPELINE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KD_TEACH")}
    done = subprocess.run([sys.executable, str(tmp_path / "check.py"), str(tmp_path / "dev.json"), *map(str, folders)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    correct = json.loads(done.stdout.strip().splitlines()[-1])
    for name, folder in zip(("hinton-kd", "teacher"), folders):
        assert correct[str(folder)] == round(rows[name]["accuracy"] * n), name     # the same sentences right
        assert abs(correct[str(folder)] / n - rows[name]["accuracy"]) < 1e-6


@pytest.mark.slow
def test_the_card_has_the_rows_numbers(smoke_row):
    out, rows = smoke_row
    for name in ("hinton-kd", "teacher"):
        row, text = rows[name], (model_dir(out, name) / "README.md").read_text()
        front = yaml.safe_load(text.split("---\n")[1])
        assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == round(row["accuracy"], 4)
        for shown in (f"# {name}:", f"{row['accuracy']:.4f} on 200", f"{row['size_mb']:.1f} MB",
                      f"{row['latency_ms_b1']:.2f} ms", f"{row['latency_ms_b32']:.2f} at batch 32",
                      row["date"], "preset `smoke`"):
            assert shown in text, (name, shown)
    assert rows["hinton-kd"]["size_mb"] == (model_dir(out, "hinton-kd") / "model.safetensors").stat().st_size / 1e6
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in (model_dir(out, "teacher") / "README.md").read_text()


def _evaluate(*args):
    return subprocess.run([sys.executable, "-m", "kd_teach.engine.cli", "evaluate", *map(str, args)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow
def test_kd_teach_evaluate_measures_the_row_again(smoke_row):
    """Accuracy, parameters and size equal the stored row's; latency is a timing: only present and positive."""
    out, rows = smoke_row
    for name in ("hinton-kd", "teacher"):
        done = _evaluate(model_dir(out, name), "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        result, row = json.loads(done.stdout), rows[name]
        assert result["stored"]["name"] == name and result["dev_sentences"] == 200      # the run's own dev subset
        assert "by name" in result["labels"]
        measured = result["measured"]
        assert measured["accuracy"] == row["accuracy"] and measured["params"] == row["params"]
        assert abs(measured["size_mb"] - row["size_mb"]) < 1e-6
        assert measured["latency_ms_b1"] > 0 and measured["latency_ms_b32"] > 0
    done = _evaluate(model_dir(out, "hinton-kd"))                                  # the table a learner reads
    assert done.returncode == 0, done.stderr[-3000:]
    now, stored = (line.split(" | ")[1:4] for line in done.stdout.splitlines()
                   if line.startswith(("| measured now", "| stored: hinton-kd")))
    assert now == stored                                                            # dev acc, params, size
    assert f"{rows['hinton-kd']['accuracy']:.4f}" in now[0]
