"""The general corpus: real text, chunked without loss, a held-out part never trained on."""
import pytest

from kd_teach.engine.corpus import Corpus, chunk, corpus_files, load_corpus
from kd_teach.engine.hub import OfflineAssetError


def test_local_corpus_is_found_and_cleaned():
    files = corpus_files()
    assert any("wikitext" in f for f in files) and any("gutenberg" in f for f in files)
    ds = load_corpus()
    texts = ds["text"]
    assert len(texts) > 10_000
    assert not any(t.strip().startswith("= ") and t.strip().endswith(" =") for t in texts)  # headings dropped
    assert all(t.strip() for t in texts)


def test_chunks_keep_every_token_of_a_long_paragraph(tokenizer):
    from datasets import Dataset

    paragraph = " ".join(["the whale swam past the ship and the crew watched in silence ."] * 20)
    chunks = chunk(Dataset.from_dict({"text": [paragraph]}), tokenizer, max_length=32)
    ids = chunks["input_ids"]
    assert len(ids) > 1 and all(len(x) <= 32 for x in ids)
    assert all(x[0] == tokenizer.cls_token_id and x[-1] == tokenizer.sep_token_id for x in ids)
    body = [i for x in ids for i in x[1:-1]]
    whole = tokenizer(paragraph, add_special_tokens=False)["input_ids"]
    assert whole[:len(body)] == body and len(whole) - len(body) < 8  # only a short tail (< min_tokens) dropped


def test_corpus_splits_paragraphs_and_counts_tokens(smoke_corpus, tokenizer):
    c = smoke_corpus
    assert len(c.train) > 10 * len(c.heldout) > 0
    assert max(len(x) for x in c.train["input_ids"]) <= c.max_length
    assert c.counts.shape == (len(tokenizer),)
    assert c.counts.sum() == sum(len(x) for x in c.train["input_ids"])
    assert c.counts[tokenizer.convert_tokens_to_ids("the")] > c.counts[tokenizer.convert_tokens_to_ids("whale")] > 0
    train_text = {tuple(x) for x in c.train["input_ids"]}
    assert not any(tuple(x) in train_text for x in c.heldout["input_ids"] if len(x) > 20)  # held out: never trained on


def test_no_corpus_offline_names_both_ways(tmp_path, monkeypatch, tokenizer):
    monkeypatch.setenv("KD_TEACH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from kd_teach.engine.hub import hub_reachable

    hub_reachable.cache_clear()
    try:
        with pytest.raises(OfflineAssetError, match=r"KD_TEACH_DATA_DIR.*corpus/.*wikitext-103"):
            Corpus(tokenizer)
    finally:
        hub_reachable.cache_clear()
