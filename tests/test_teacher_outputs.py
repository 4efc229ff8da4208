"""TinyBERT step 1's teacher outputs computed once (kd_teach.tinybert.teacher_outputs), on the real teacher and SST-2 rows."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kd_teach.engine.data import make_loader
from kd_teach.tinybert.attention import layer_outputs
from kd_teach.tinybert.stages import check_compatible, new_distiller, task_distillation_step1
from kd_teach.tinybert.teacher_outputs import bytes_needed, teacher_targets, with_row_index

G = [0, 3, 6]  # a 2-layer student from the 6-layer teacher, g(m) = 3m


@pytest.fixture(scope="module")
def rows(smoke_data):
    return smoke_data.train.select(range(40))


def test_cached_outputs_are_the_teachers_on_any_batch(smoke_teacher, smoke_data, rows):
    teacher, _ = smoke_teacher
    targets = teacher_targets(teacher, rows, smoke_data.tokenizer, G, batch_size=16)
    loader = make_loader(with_row_index(rows), smoke_data.tokenizer, 8, shuffle=True, seed=1)  # other batches
    for batch in loader:
        real = batch["attention_mask"].bool()                                        # (B, L)
        cached = targets.batch(batch["row_index"].tolist(), batch["input_ids"].shape[1])
        with torch.no_grad():
            fresh = layer_outputs(teacher, batch, G[1:])
        for n in G:
            torch.testing.assert_close(cached.hidden_states[n][real], fresh.hidden_states[n][real], atol=1e-4, rtol=1e-4)
            assert cached.hidden_states[n][~real].abs().sum() == 0                   # padding: zeros, never read
        pairs = real[:, None, :, None] & real[:, None, None, :]                      # (B, 1, L, L) real (query, key)
        for n in G[1:]:
            assert cached.scores[n].shape == fresh.scores[n].shape
            torch.testing.assert_close(cached.scores[n][pairs.expand_as(fresh.scores[n])],
                                       fresh.scores[n][pairs.expand_as(fresh.scores[n])], atol=1e-4, rtol=1e-4)


def test_memory_is_counted_and_respected(smoke_teacher, smoke_data, rows):
    teacher, _ = smoke_teacher
    targets = teacher_targets(teacher, rows, smoke_data.tokenizer, G)
    stored = sum(h.numel() + a.numel() for h, a in zip(targets.hidden, targets.scores)) * 4
    lengths = [len(ids) for ids in rows["input_ids"]]
    cfg = teacher.config
    assert bytes_needed(lengths, len(G) - 1, cfg.num_attention_heads, cfg.hidden_size) == stored
    assert teacher_targets(teacher, rows, smoke_data.tokenizer, G, max_bytes=stored - 1) is None


def test_step1_learns_the_same_with_the_teacher_cached(smoke_preset, smoke_teacher, smoke_data):
    teacher, _ = smoke_teacher
    settings = smoke_preset.tinybert
    train_set = smoke_data.train.select(range(64))
    students = {}
    for cached in (False, True):
        s = replace(settings, cache_teacher_outputs=cached)
        distiller = new_distiller(teacher.config, s, seed=0)
        assert check_compatible(distiller.student, teacher, s) == G
        result = task_distillation_step1(s, teacher, distiller, train_set, smoke_data.tokenizer, 16, seed=0)
        students[cached] = (distiller, result.train.history)
    (d0, h0), (d1, h1) = students[False], students[True]
    assert [e["step"] for e in h0] == [e["step"] for e in h1]
    for a, b in zip(h0, h1):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-3)
    for (name, p0), p1 in zip(d0.named_parameters(), d1.parameters()):
        torch.testing.assert_close(p0, p1, atol=1e-4, rtol=1e-3, msg=name)
