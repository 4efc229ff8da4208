"""The packaged teacher is the real all-MiniLM-L6-v2; students share its vocabulary; offline errors are clear."""
import socket

import pytest
import torch

from kd_teach.engine import hub
from kd_teach.engine.hub import OfflineAssetError
from kd_teach.engine.models import build_student, count_parameters, load_mlm_teacher, load_teacher, resolve_teacher
from kd_teach.engine.presets import StudentSize


def test_packaged_teacher_is_minilm_l6():
    teacher = load_teacher()
    c = teacher.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (6, 384, 12, 1536)
    assert c.vocab_size == 30_522
    encoder_params = count_parameters(teacher.bert)
    assert 22.5e6 < encoder_params < 22.9e6  # all-MiniLM-L6-v2: 22.7M


def test_packaged_teacher_gives_its_known_sentence_similarity(tokenizer):
    # all-MiniLM-L6-v2 is a sentence-embedding model: mean-pooled embeddings of paraphrases are
    # close, of unrelated sentences far. A random or broken checkpoint fails this.
    encoder = load_teacher().bert.eval()
    sentences = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell today."]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        h = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    e = torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_student_shares_the_teacher_vocabulary_and_has_the_asked_size():
    teacher = load_teacher()
    student = build_student(teacher.config, StudentSize(layers=2, hidden=128, heads=2, ffn=512))
    c = student.config
    assert (c.vocab_size, c.pad_token_id) == (teacher.config.vocab_size, teacher.config.pad_token_id)
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (2, 128, 2, 512)
    assert count_parameters(student) < count_parameters(teacher) / 4


def test_student_size_error_names_the_values():
    with pytest.raises(ValueError, match="hidden size 100 is not divisible by heads=3"):
        build_student(load_teacher().config, StudentSize(layers=2, hidden=100, heads=3, ffn=256))


def test_hub_teacher_offline_fails_fast_in_one_line(monkeypatch):
    """Offline, a hub name fails at once: no connection is even tried (so no retries, no waiting)."""
    def no_network(*args, **kwargs):
        raise AssertionError("with HF_HUB_OFFLINE=1 nothing may try the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    hub.hub_reachable.cache_clear()
    with pytest.raises(OfflineAssetError) as err:
        resolve_teacher("kd-teach-test/no-such-model")
    message = str(err.value)
    assert "\n" not in message and "packaged all-MiniLM-L6-v2" in message
    hub.hub_reachable.cache_clear()


@pytest.mark.parametrize("load, head", [(load_teacher, lambda m: m.classifier.weight),
                                        (load_mlm_teacher, lambda m: m.cls.predictions.transform.dense.weight)],
                         ids=["classifier", "mlm"])
def test_teacher_head_init_depends_only_on_the_seed(load, head):
    """A new head comes from ``seed``, not from whatever drew random numbers before, and the global
    random state is left as it was (a cached teacher must be reproducible from its recipe)."""
    first = head(load(seed=3))
    torch.rand(1000)                                   # something else draws first
    state = torch.get_rng_state()
    again = head(load(seed=3))
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    assert not torch.equal(head(load(seed=4)), first)
