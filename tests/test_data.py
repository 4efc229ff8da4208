"""SST-2 loading (real rows), the offline error, dynamic padding and the resumable batch order."""
import os

import pytest
import torch

from kd_teach.engine import hub
from kd_teach.engine.data import load_sst2, make_loader, set_loader_epoch
from kd_teach.engine.hub import OfflineAssetError

needs_data = pytest.mark.skipif(not os.environ.get("KD_TEACH_DATA_DIR"), reason="KD_TEACH_DATA_DIR not set")


@needs_data
def test_sst2_has_the_real_glue_rows():
    ds = load_sst2()
    assert (len(ds["train"]), len(ds["validation"])) == (67_349, 872)
    assert ds["train"].column_names == ["sentence", "label"]
    assert ds["train"][0]["sentence"].strip() == "hide new secretions from the parental units"
    assert ds["validation"][0] == {"sentence": "it 's a charming and often affecting journey . ", "label": 1}
    assert set(ds["validation"]["label"]) == {0, 1}
    assert sum(ds["validation"]["label"]) == 444  # GLUE SST-2 dev: 444 positive, 428 negative


def test_offline_without_data_names_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_TEACH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    with pytest.raises(OfflineAssetError, match="KD_TEACH_DATA_DIR") as err:
        load_sst2()
    assert "load_dataset('glue', 'sst2')" in str(err.value)
    hub.hub_reachable.cache_clear()


def test_dynamic_padding_pads_to_the_longest_in_each_batch(smoke_data):
    loader = make_loader(smoke_data.dev, smoke_data.tokenizer, batch_size=8)
    for batch in list(loader)[:5]:
        longest = int(batch["attention_mask"].sum(-1).max())
        assert batch["input_ids"].shape[1] == longest
        pads = batch["input_ids"][batch["attention_mask"] == 0]
        assert (pads == smoke_data.tokenizer.pad_token_id).all()


def test_shuffled_order_is_a_function_of_seed_and_epoch(smoke_data):
    loader = smoke_data.train_loader(batch_size=32, seed=3)

    def first_ids(epoch):
        set_loader_epoch(loader, epoch)
        return [b["labels"].tolist() + b["input_ids"][:, 1].tolist() for b in loader]

    assert first_ids(0) == first_ids(0)      # same epoch: same batches (what resume relies on)
    assert first_ids(0) != first_ids(1)      # another epoch: another order
    set_loader_epoch(loader, 0)
    seen = torch.cat([b["labels"] for b in loader])
    assert len(seen) == len(smoke_data.train)  # every sentence once per epoch


@needs_data
def test_transfer_set_is_disjoint_from_the_labelled_rows_and_has_no_labels(tokenizer):
    from kd_teach.engine.data import SST2Data, UNLABELLED, split_labelled_transfer, subsample

    train = load_sst2()["train"]
    labelled, transfer = split_labelled_transfer(train, 500, 300, seed=0)
    assert labelled["sentence"] == subsample(train, 500, seed=0)["sentence"]  # the same rows as without one
    # SST-2 train repeats some phrases, so compare row positions, not sentences
    shuffled = train.shuffle(seed=0)
    assert transfer["sentence"] == shuffled.select(range(500, 800))["sentence"]
    data = SST2Data(tokenizer, 500, 8, 64, seed=0, transfer_size=300)
    assert len(data.transfer) == 300 and set(data.transfer["labels"]) == {UNLABELLED}
    assert SST2Data(tokenizer, 500, 8, 64, seed=0).transfer is None


def test_transfer_set_sizes_are_checked():
    from datasets import Dataset

    from kd_teach.engine.data import split_labelled_transfer

    ds = Dataset.from_dict({"sentence": list("abcdef"), "label": [0, 1] * 3})
    with pytest.raises(ValueError, match="train_size \\+ transfer_size must be <= 6"):
        split_labelled_transfer(ds, 4, 3)
    with pytest.raises(ValueError, match="transfer_size must be >= 0, got -1"):
        split_labelled_transfer(ds, 4, -1)


@needs_data
@pytest.mark.parametrize("budget", [None, 500, 2000, 8000, 16000])
def test_the_tuning_split_shares_no_sentence_with_any_rows_labelled_or_transfer_set(tokenizer, budget):
    # Every recipe search scores on the tuning split (benchmarks/tune.py), so it must hold no sentence any row
    # trains on: not the labelled set, not the transfer set, at the cpu preset and at every label budget.
    from kd_teach.engine.data import TUNING_SIZE, SST2Data
    from kd_teach.engine.presets import get_preset, label_budget

    preset = get_preset("cpu") if budget is None else label_budget(budget)
    data = SST2Data.from_preset(tokenizer, preset)
    trained_on = set(data.train_raw["sentence"]) | set(load_sst2()["train"].shuffle(seed=0).select(
        range(preset.train_size, preset.train_size + preset.transfer_size))["sentence"])
    tuning = data.tuning_raw["sentence"]
    assert not set(tuning) & trained_on and not set(tuning) & set(data.dev_sentences)
    assert 0.99 * TUNING_SIZE <= len(tuning) <= TUNING_SIZE          # only repeated phrases are left out
    assert len(data.tuning) == len(tuning) and set(data.tuning["labels"]) == {0, 1}


@needs_data
def test_no_preset_reaches_into_the_tuning_split(tokenizer):
    from kd_teach.engine.data import SST2Data, TUNING_SIZE, load_sst2 as load

    rows = len(load()["train"])
    with pytest.raises(ValueError, match=f"must be <= {rows - TUNING_SIZE:,} \\(SST-2 train less the 2,000-sentence "
                                         "tuning split\\), got 60,000 \\+ 6,000"):
        SST2Data(tokenizer, 60_000, 8, 64, transfer_size=6_000)
