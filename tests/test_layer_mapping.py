"""Tests for kd_teach.tinybert.mapping: g(m) uniform, top, bottom or explicit (TinyBERT, Section 3.1)."""
from __future__ import annotations

import pytest

from kd_teach.tinybert.mapping import describe_mapping, draw_mapping, layer_mapping


def test_uniform_is_every_n_over_m_th_layer():
    assert layer_mapping(4, 12) == [0, 3, 6, 9, 12]             # the paper's TinyBERT4 from BERT-base
    assert layer_mapping(6, 12) == [0, 2, 4, 6, 8, 10, 12]
    assert layer_mapping(3, 6) == [0, 2, 4, 6]                  # the course's cpu student from MiniLM
    assert layer_mapping(6, 6) == list(range(7))


def test_top_and_bottom():
    assert layer_mapping(4, 12, "top") == [0, 9, 10, 11, 12]
    assert layer_mapping(4, 12, "bottom") == [0, 1, 2, 3, 4]
    assert layer_mapping(4, 6, "top") == [0, 3, 4, 5, 6]        # top and bottom fit any M <= N


def test_explicit_lists_with_or_without_the_embedding_layer():
    assert layer_mapping(4, 6, [2, 3, 5, 6]) == [0, 2, 3, 5, 6]
    assert layer_mapping(4, 6, [0, 2, 3, 5, 6]) == [0, 2, 3, 5, 6]
    assert layer_mapping(2, 6, (1, 6)) == [0, 1, 6]


def test_a_4_layer_student_from_a_6_layer_teacher_is_not_uniform():
    with pytest.raises(ValueError) as err:
        layer_mapping(4, 6)
    message = str(err.value)
    assert "a 4-layer student from a 6-layer teacher is not uniform" in message
    assert "[2, 3, 5, 6]" in message                               # m * 6 / 4 rounded: a list that works
    assert layer_mapping(4, 6, [2, 3, 5, 6])                       # ... and it does


@pytest.mark.parametrize("args, pattern", [
    ((0, 6), r"need 1 <= student_layers <= teacher_layers, got student_layers=0"),
    ((8, 6), r"student_layers=8 and teacher_layers=6"),
    ((4, 12, "middle"), r"strategy must be one of \['uniform', 'top', 'bottom'\].*got 'middle'"),
    ((4, 12, [3, 6, 9]), r"must list 4 teacher layers.*got \[3, 6, 9\]"),
    ((4, 12, [3, 6, 9, 13]), r"each in 1..12"),
    ((4, 12, [3, 9, 6, 12]), r"increasing"),
    ((2, 6, [0, 3]), r"must list 2 teacher layers"),             # 0 is the embedding layer, not a layer
])
def test_misfits_are_errors_that_say_what_fits(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        layer_mapping(*args)


def test_describe_and_draw():
    g = layer_mapping(4, 12)
    text = describe_mapping(g, 12)
    assert "student layer 1     -> teacher layer 3" in text and "(L_pred; layer 5 -> 13)" in text
    fig = draw_mapping(g, 12, title="uniform")
    arrows = [c for c in fig.axes[0].texts if c.get_text() == ""]   # one annotation arrow per pair
    assert len(arrows) == len(g) + 1
