"""The attention heatmaps of notebooks 05 and 06 as a learner sees them: every label whole, every axis named.

A learner's browser showed "cinematography" as "inematography": a long rotated token label ran
past the edge of the widget's PNG. These tests read the PNG the widget shows.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, BertConfig, BertForSequenceClassification

from kd_teach.course.attention_view import AttentionExplorer, figure_png
from kd_teach.engine.models import resolve_teacher
from kd_teach.tinybert.mapping import layer_mapping

LONG = ["the cinematography is unbearably dull , but the performances are extraordinarily compelling throughout .",
        "cinematography"]


@pytest.fixture(scope="module")
def explorer(tokenizer):
    teacher = AutoModel.from_pretrained(resolve_teacher(None)).eval()
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=48, num_hidden_layers=2, num_attention_heads=12,
                        intermediate_size=96)
    torch.manual_seed(0)
    student = BertForSequenceClassification(config).eval()
    return AttentionExplorer(teacher, student, tokenizer, LONG, layer_mapping(2, 6))


def _border(png: bytes, width: int = 2) -> np.ndarray:
    """The outermost ``width`` pixels of the image on all four sides, as grey levels 0..255."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    return np.concatenate([img[:width].ravel(), img[-width:].ravel(), img[:, :width].ravel(), img[:, -width:].ravel()])


@pytest.mark.parametrize("view", ["scores", "probs"])
@pytest.mark.parametrize("sentence", LONG)
def test_no_label_reaches_the_edge_of_the_picture(explorer, view, sentence):
    """A label cut by the image's edge leaves dark pixels on the border; a whole picture has a white frame."""
    explorer.sentence.value, explorer.view.value = sentence, view
    assert "cinematography" in explorer.tokens
    border = _border(bytes(explorer.chart.value))
    assert border.min() == 255, f"{int((border < 255).sum())} non-white pixels on the border: a label is cut off"


def test_the_frame_check_sees_a_cut_label(explorer):
    """The same figure saved without cropping to what is drawn, in a picture too short for it, is caught."""
    explorer.sentence.value = LONG[0]
    fig = explorer.figure()
    fig.set_size_inches(11, 4)                                  # the old size, less room for rotated labels
    cut = io.BytesIO()
    fig.savefig(cut, format="png", dpi=80)
    assert _border(cut.getvalue()).min() < 255
    assert _border(figure_png(fig)).min() == 255                # cropped to what is drawn: whole again


@pytest.mark.parametrize("view, words", [("scores", "before the softmax"), ("probs", "attention probability")])
def test_axes_and_colour_bar_are_named(explorer, view, words):
    explorer.view.value = view
    fig = explorer.figure()
    heatmaps, bar = fig.axes[:2], fig.axes[2]
    for ax in heatmaps:
        assert ax.get_xlabel().startswith("key") and ax.get_ylabel().startswith("query")
        assert [t.get_text() for t in ax.get_xticklabels()] == explorer.tokens
    assert words in bar.get_ylabel()
