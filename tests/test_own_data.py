"""Your own task: `kd-teach run --data FILE`, on a real three-class CSV made here.

The classes: negative and positive SST-2 training sentences (movie reviews) and sentences of
WikiText (the general corpus under $KD_TEACH_DATA_DIR): "encyclopedia". Real text and a real,
learnable task, with no file committed.
"""
import csv
import json
import os
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest

from kd_teach.engine import hub
from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.tasks import TaskDataError, TaskSpec, load_task, stratified_holdout, task_data

needs_data = pytest.mark.skipif(not os.environ.get("KD_TEACH_DATA_DIR"), reason="KD_TEACH_DATA_DIR not set")
PER_CLASS = 150                                   # 450 rows: a smoke run of the spine in well under a minute


def _sst2_sentences(label: int, n: int) -> list[str]:
    """The first ``n`` distinct SST-2 training sentences of ``label`` with 10 to 40 words (whole sentences, not
    the treebank's phrases)."""
    from kd_teach.engine.data import data_dir

    out = []
    with open(data_dir() / "sst2" / "train.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            text = row["sentence"].strip()
            if int(row["label"]) == label and 10 <= len(text.split()) <= 40 and text not in out:
                out.append(text)
                if len(out) == n:
                    return out
    raise AssertionError(f"SST-2 train has fewer than {n} such sentences")


def _wiki_sentences(n: int) -> list[str]:
    """The first sentence of 10 to 40 words of each paragraph of the local WikiText, ``n`` distinct ones (headings
    skipped; ``@-@`` joins undone): one per paragraph, so many articles."""
    from kd_teach.engine.corpus import corpus_files

    out = []
    for path in (p for p in corpus_files() if "wikitext" in p):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip().startswith("="):
                    continue
                sentences = re.sub(r" @(.)@ ", r"\1", line).strip().removesuffix(" .").split(" . ")
                sentence = next((s.strip() + " ." for s in sentences if 10 <= len(s.split()) <= 40), None)
                if sentence and sentence not in out:
                    out.append(sentence)
                    if len(out) == n:
                        return out
    raise AssertionError(f"the local WikiText has fewer than {n} such sentences")


@pytest.fixture(scope="module")
def rows():
    """(text, class name) pairs, interleaved so no class is bunched at one end of the file."""
    classes = {"negative": _sst2_sentences(0, PER_CLASS), "positive": _sst2_sentences(1, PER_CLASS),
               "encyclopedia": _wiki_sentences(PER_CLASS)}
    return [(texts[i], name) for i in range(PER_CLASS) for name, texts in classes.items()]


def _write(path, rows, header=("id", "text", "label"), delimiter=","):
    """A CSV (quoted where needed), or a TSV as GLUE's: no quoting at all."""
    lines = [header] + [(i, text, label) for i, (text, label) in enumerate(rows)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        if delimiter == ",":
            csv.writer(f).writerows(lines)
        else:
            f.writelines("\t".join(map(str, line)) + "\n" for line in lines)
    return path


@needs_data
def test_string_labels_become_sorted_ids_and_dev_is_a_stratified_hold_out(tmp_path, rows):
    path = _write(tmp_path / "reviews_or_wiki.csv", rows)
    raw, names, origin = load_task(TaskSpec(str(path), "text", "label"))
    assert names == ("encyclopedia", "negative", "positive")                # sorted: the ids 0, 1, 2
    train, dev = raw["train"], raw["validation"]
    assert (len(train), len(dev)) == (3 * PER_CLASS - 45, 45)
    assert [list(dev["label"]).count(c) for c in range(3)] == [15, 15, 15]        # 10% of each class
    assert not set(train["sentence"]) & set(dev["sentence"])
    truth = dict(rows)
    for split in (train, dev):                                             # every row kept its own label
        assert all(names[y] == truth[s] for s, y in zip(split["sentence"], split["label"]))
    assert "10% of each class held out" in origin and "'text'" in origin
    again, _, _ = load_task(TaskSpec(str(path), "text", "label"))
    assert list(again["validation"]["sentence"]) == list(dev["sentence"])  # seeded: the same hold-out every run


@needs_data
def test_integer_labels_keep_their_numeric_order_and_a_dev_file_is_used_as_given(tmp_path, rows, tokenizer):
    ids = {"negative": 10, "positive": 2, "encyclopedia": 7}                 # alphabetically 10 < 2 < 7
    numbered = [(text, ids[name]) for text, name in rows]
    train = _write(tmp_path / "train.tsv", numbered[:390], ("id", "sentence", "y"), "\t")
    dev = _write(tmp_path / "dev.tsv", numbered[390:], ("id", "sentence", "y"), "\t")
    spec = TaskSpec(str(train), "sentence", "y", dev_data=str(dev))
    raw, names, _ = load_task(spec)
    assert names == ("2", "7", "10")
    assert list(raw["validation"]["sentence"]) == [t for t, _ in numbered[390:]]  # the dev file, whole, in order
    assert list(raw["train"]["label"][:3]) == [2, 0, 1]                            # 10 -> id 2, 2 -> id 0, 7 -> id 1

    smoke = SimpleNamespace(name="smoke", train_size=300, transfer_size=200, dev_size=40, max_length=64)
    data = task_data(spec, tokenizer, smoke)
    assert (data.name, data.num_labels, data.label_names) == ("train", 3, ("2", "7", "10"))
    assert (len(data.train), len(data.transfer), len(data.dev)) == (300, 90, 40)   # transfer: what is left
    assert set(data.transfer["labels"]) == {-100}
    assert len(task_data(spec, tokenizer, replace_ns(smoke, train_size=1000)).train) == 390  # capped
    assert task_data(spec, tokenizer, replace_ns(smoke, train_size=None)).transfer is None


def replace_ns(ns, **changes):
    return SimpleNamespace(**{**vars(ns), **changes})


def test_the_loader_says_what_is_wrong(tmp_path):
    def fails(match, **spec):
        with pytest.raises(TaskDataError, match=match):
            load_task(TaskSpec(**{"text_column": "text", "label_column": "label", **spec}))

    fails("data file not found: .*missing.csv", data=str(tmp_path / "missing.csv"))
    (tmp_path / "empty.csv").write_text("")
    fails("empty.csv is empty", data=str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("text,label\n")
    fails(r"has a header \(text, label\) but no rows", data=str(tmp_path / "header.csv"))
    (tmp_path / "cols.csv").write_text("sentence,y\na fine film,pos\na dull film,neg\n")
    fails(r"no column 'text'; its columns: sentence, y\. Name .* --text-column", data=str(tmp_path / "cols.csv"))
    (tmp_path / "one.csv").write_text("text,label\na fine film,pos\na good film,pos\n")
    fails(r"one class only \('pos'\)", data=str(tmp_path / "one.csv"))
    (tmp_path / "dev.csv").write_text("sentence,y\nnull,meh\n")
    fails(r"label 'meh' of the dev set is not a class of the training set \(neg, pos\)",
          data=str(tmp_path / "cols.csv"), text_column="sentence", label_column="y", dev_data=str(tmp_path / "dev.csv"))
    fails("too small to hold out a dev set", data=str(tmp_path / "cols.csv"), text_column="sentence", label_column="y")


def test_null_and_na_stay_text_and_the_hold_out_keeps_every_class(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nnull,a\nNA,a\n\"one, two\",b\nN/A,b\nnan,b\n")
    raw, names, _ = load_task(TaskSpec(str(tmp_path / "t.csv")))
    texts = [*raw["train"]["sentence"], *raw["validation"]["sentence"]]
    assert sorted(texts) == ["N/A", "NA", "nan", "null", "one, two"]
    assert sorted(raw["validation"]["label"]) == [0, 1]                     # one row of each class
    train, dev = stratified_holdout([0] * 30 + [1] * 5 + [2], 0.1, seed=0)
    assert [sum(1 for i in dev if lo <= i < hi) for lo, hi in ((0, 30), (30, 35), (35, 36))] == [3, 1, 0]
    assert sorted(train + dev) == list(range(36))


def test_a_hub_id_offline_is_one_clear_line(monkeypatch, capsys):
    from kd_teach.engine.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    try:
        with pytest.raises(OfflineAssetError, match="'someone/reviews': it is not a local file and the Hugging Face"):
            load_task(TaskSpec("someone/reviews"))
        assert main(["run", "--data", "someone/reviews", "--data-config", "en", "--preset", "smoke"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Pass a CSV or TSV file" in err[0]
    finally:
        hub.hub_reachable.cache_clear()


def test_a_hub_data_set_keeps_its_class_label_names_and_its_validation_split(monkeypatch):
    """The online path, with the hub's answer stood in for: load_dataset(id, config) as datasets returns it."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    from kd_teach.engine import tasks

    features = Features({"review": Value("string"), "stars": ClassLabel(names=["low", "high", "mid"])})

    def split(labels):
        return Dataset.from_dict({"review": [f"review {i}" for i in range(len(labels))], "stars": labels}, features)

    asked = []
    monkeypatch.setattr(tasks, "hub_reachable", lambda: True)
    monkeypatch.setattr(tasks, "load_dataset", lambda *a: asked.append(a) or DatasetDict(
        train=split([0, 1, 2, 2, 1, 0]), validation=split([2, 0]), test=split([-1, -1])))
    spec = TaskSpec("someone/reviews", "review", "stars", config="en")
    raw, names, origin = load_task(spec)
    assert asked == [("someone/reviews", "en")] and spec.task_name == "reviews-en"
    assert names == ("low", "high", "mid")                                  # the data set's own ids, not sorted
    assert list(raw["train"]["label"]) == [0, 1, 2, 2, 1, 0] and list(raw["validation"]["label"]) == [2, 0]
    assert "dev: its validation split" in origin


@pytest.mark.parametrize("argv, said", [
    (["run"], "give the task sst2 or your own data set"),
    (["run", "sst2", "--data", "my.csv"], "give the task sst2 or your own data set"),
    (["run", "sst2", "--label-column", "y"], "--label-column goes with --data only"),
    (["run", "--data", "sst2.csv"], "SST-2's own"),
])
def test_the_command_line_takes_sst2_or_data(argv, said, capsys):
    from kd_teach.engine.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and said in capsys.readouterr().err


def test_only_the_spine_runs_on_a_task_of_ones_own(capsys):
    from kd_teach.engine.cli import main
    from kd_teach.engine.pipeline import expand_rows

    assert expand_rows("spine", "my") == ("teacher", "baseline", "hinton-kd")
    assert main(["run", "--data", "my.csv", "--rows", "baseline,distilbert"]) == 2
    said = capsys.readouterr().err
    assert "distilbert, distilbert-init, distilbert-random, hinton-kd-distilbert-shape run on SST-2 only for now; " \
           "on task 'my'" in said


def test_sst2_teacher_keys_are_unchanged_and_a_task_of_ones_own_has_its_own(smoke_data):
    from kd_teach.engine.cache import teacher_key
    from kd_teach.engine.presets import get_preset

    smoke, cpu = get_preset("smoke"), get_preset("cpu")
    # the keys of the committed reference results (results/cpu) and of users' cached teachers
    assert teacher_key(cpu) == "all-minilm-l6-v2-sst2-cpu-e4cd6b9d8a9d"
    assert teacher_key(smoke) == teacher_key(smoke, None, smoke_data) == "all-minilm-l6-v2-sst2-smoke-5f5684db7be0"
    assert teacher_key(get_preset("gpu-full")) == "bert-base-uncased-sst2-gpu-full-86c3271d0899"
    mine = SimpleNamespace(name="reviews", fingerprint="0123456789ab", num_labels=3)
    key = teacher_key(smoke, None, mine)
    assert key.startswith("all-minilm-l6-v2-reviews-smoke-")
    assert teacher_key(smoke, None, SimpleNamespace(**{**vars(mine), "fingerprint": "0123456789ac"})) != key


@needs_data
@pytest.mark.slow
def test_kd_teach_run_distils_a_three_class_csv(tmp_path, rows, capsys):
    """The acceptance run: the spine's rows on a three-class CSV, at the smoke preset, through main()."""
    from kd_teach.engine.cli import main

    path = _write(tmp_path / "reviews_or_wiki.csv", rows)
    out = tmp_path / "run"
    assert main(["run", "--data", str(path), "--text-column", "text", "--label-column", "label",
                 "--preset", "smoke", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "3 classes: encyclopedia, negative, positive" in said and "405 labelled training sentences" in said
    table = json.loads((out / "results.json").read_text())
    assert table["task"] == "reviews_or_wiki"
    rows_ = {r["name"]: r for r in table["rows"]}
    assert list(rows_) == ["teacher", "baseline", "hinton-kd"]
    assert all(r["dev_sentences"] == 45 for r in rows_.values())
    assert "reviews_or_wiki" in rows_["teacher"]["teacher_key"]
    for name in rows_:
        config = json.loads((out / "models" / name / "config.json").read_text())
        assert config["id2label"] == {"0": "encyclopedia", "1": "negative", "2": "positive"}
    assert rows_["hinton-kd"]["transfer_size"] == 0 and rows_["hinton-kd"]["train_size"] == 405   # all labelled
    assert rows_["baseline"]["params"] == rows_["hinton-kd"]["params"] < rows_["teacher"]["params"]
    # Chance is 1/3. The teacher learnt the task (0.69 here: one epoch, 13 steps), and its saved folder tells
    # encyclopedia text from reviews on its own, labels by name. The smoke students, 52 and 26 steps from a
    # random start, are not asked to.
    assert rows_["teacher"]["accuracy"] > 0.55, rows_["teacher"]["accuracy"]
    from transformers import pipeline

    raw, _, _ = load_task(TaskSpec(str(path)))
    wiki = [t for t, y in zip(raw["validation"]["sentence"], raw["validation"]["label"]) if y == 0]
    said = [p["label"] for p in pipeline("text-classification", model=str(out / "models" / "teacher"))(wiki)]
    assert said.count("encyclopedia") >= 0.8 * len(wiki), said
    assert "| hinton-kd |" in (out / "results.md").read_text()
