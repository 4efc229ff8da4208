"""The temperature slider, driven through its Python API as a learner drives it with the mouse."""
import math

import pytest
import torch

from kd_teach import softmax_with_temperature
from kd_teach.course.widgets import TemperatureExplorer


def test_moving_the_slider_redraws_what_the_package_predicts():
    logits = torch.tensor([3.0, 1.0, 0.2])
    explorer = TemperatureExplorer(logits, ["a", "b", "c"], T=1.0)
    before, chart = explorer.probs.clone(), bytes(explorer.chart.value)
    explorer.slider.value = 4.0
    assert explorer.T == 4.0
    torch.testing.assert_close(explorer.probs, softmax_with_temperature(logits.double(), 4.0))
    assert not torch.allclose(explorer.probs, before)
    assert "T = 4.0" in explorer.text.value and f"{explorer.probs[0]:.3f}" in explorer.text.value
    assert explorer.entropy > -(before * before.log()).sum().item()
    assert explorer.entropy <= math.log(3)
    assert bytes(explorer.chart.value).startswith(b"\x89PNG") and bytes(explorer.chart.value) != chart  # redrawn


def test_the_slider_stops_at_round_temperatures_and_as_often_below_3_as_above():
    from kd_teach.course.widgets import T_VALUES

    explorer = TemperatureExplorer([3.0, 1.0, 0.2], ["a", "b", "c"], T=0.5)
    stops = [value for _, value in explorer.slider.options]
    assert stops == list(T_VALUES) and {0.5, 1.0, 2.0} <= set(stops) and stops == sorted(stops)
    assert len([t for t in stops if t < 3]) >= len([t for t in stops if t >= 3])   # the interesting range gets room
    assert explorer.chart.layout.align_self == "flex-start"                      # drawn at its own size, not stretched


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="one label per class"):
        TemperatureExplorer([1.0, 2.0], ["only one"])
    with pytest.raises(ValueError, match=r"T must be one of the slider's values .*, got 0.55"):
        TemperatureExplorer([1.0, 2.0], ["a", "b"], T=0.55)


# --------------------------------------------------------------------------- the layer picker
from transformers import BertConfig  # noqa: E402

from kd_teach.course.widgets import LayerPicker  #noqa: E402
from kd_teach.distilbert.student import distilbert_state_dict, init_distilbert_student  #noqa: E402
from kd_teach.engine.models import count_parameters, load_mlm_teacher  #noqa: E402


@pytest.fixture(scope="module")
def teacher():
    """The real packaged teacher; its MLM head is fresh (seeded, untrained): enough to count and copy."""
    torch.manual_seed(0)
    return load_mlm_teacher().eval()


def test_picker_starts_at_one_layer_in_two_and_counts_the_real_student(teacher):
    picker = LayerPicker(teacher)
    assert picker.layers == [0, 2, 4] and len(picker.buttons) == 6
    assert picker.params == count_parameters(init_distilbert_student(teacher, [0, 2, 4]))
    assert picker.teacher_params == count_parameters(teacher)
    assert picker.share == pytest.approx(picker.params / count_parameters(teacher))
    assert f"{picker.params:,}" in picker.summary.value and "layers [1, 3, 5] are dropped" in picker.message


@pytest.mark.parametrize("layers", [[0, 2, 4], [1, 3, 5], [0, 5], [3], list(range(6))])
def test_setting_layers_redraws_count_and_mapping(teacher, layers):
    picker = LayerPicker(teacher, layers=[0])
    picker.layers = layers
    assert [b.value for b in picker.buttons] == [i in layers for i in range(6)]
    student = init_distilbert_student(teacher, layers)
    assert picker.params == count_parameters(student)
    rows = [(t, s) for t, s in picker.mapping if t.startswith("bert.encoder.layer.")]
    assert len(rows) == 8 * len(layers)
    for t, s in rows:  # teacher layer layers[k] -> student layer k
        i, k = int(t.split(".")[3]), int(s.split(".")[3])
        assert s.startswith("distilbert.transformer.layer.") and layers[k] == i, (t, s)
    # every row of the table names weights that really are copied, equal to the last bit
    t_state, s_state = teacher.state_dict(), student.state_dict()
    for t, s in picker.mapping:
        for p in ("weight", "bias"):
            tk, sk = (t, s) if t.endswith(".bias") else (f"{t}.{p}", f"{s}.{p}")
            if tk in t_state:
                assert torch.equal(s_state[sk], t_state[tk]), (tk, sk)
    assert f"bert.encoder.layer.{layers[-1]}.attention.self.query" in picker.table.value


def test_clicking_buttons_is_the_same_as_the_api(teacher):
    picker = LayerPicker(teacher)
    picker.buttons[4].value = False          # a learner unticks layer 4
    picker.buttons[5].value = True           # and ticks layer 5
    assert picker.layers == [0, 2, 5]
    assert ("bert.encoder.layer.5.output.dense", "distilbert.transformer.layer.2.ffn.lin2") in picker.mapping
    picker.reset.click()
    assert picker.layers == [0, 2, 4]


def test_no_layer_is_refused_in_words(teacher):
    picker = LayerPicker(teacher)
    picker.select([])
    assert picker.params is None and picker.share is None and picker.mapping == []
    assert picker.message.startswith("Pick at least one teacher layer") and "got []" in picker.message
    assert "Pick at least one teacher layer" in picker.summary.value and picker.table.value == ""
    picker.buttons[1].value = True
    assert picker.params == count_parameters(init_distilbert_student(teacher, [1]))


@pytest.mark.parametrize("bad", [[0, 6], [2, 0], [1, 1], [-1]])
def test_lists_the_buttons_cannot_show_are_refused(teacher, bad):
    picker = LayerPicker(teacher)
    with pytest.raises(ValueError, match=r"layers must be increasing, distinct teacher layer indices in \[0, 6\)"):
        picker.layers = bad
    assert picker.layers == [0, 2, 4]  # unchanged


def test_a_config_alone_is_enough_for_bert_base():
    """BERT-base is never downloaded: its config says how big it and its DistilBERT are."""
    picker = LayerPicker(BertConfig())
    assert picker.layers == [0, 2, 4, 7, 9, 11] and len(picker.buttons) == 12
    assert picker.params == pytest.approx(67.0e6, rel=0.01)          # 66.4M + the MLM head's 0.6M
    assert picker.teacher_params == pytest.approx(109.5e6, rel=0.01)  # BertForMaskedLM: no pooler
    assert picker.share == pytest.approx(0.61, abs=0.01)
    assert ("bert.encoder.layer.11.output.LayerNorm", "distilbert.transformer.layer.5.output_layer_norm") \
        in picker.mapping
    with pytest.raises(ValueError, match="BertForMaskedLM or a BertConfig"):
        LayerPicker("bert-base-uncased")


def test_mapping_matches_the_state_dict_the_package_builds(teacher):
    """The table and distilbert_state_dict agree on every student weight: none missing, none extra."""
    picker = LayerPicker(teacher, layers=[1, 4])
    built = set(distilbert_state_dict(teacher.state_dict(), [1, 4])) - {"vocab_projector.weight"}  # tied
    covered = {k for k in built for _, s in picker.mapping if k == s or k.rsplit(".", 1)[0] == s}
    assert covered == built
    assert all(any(k == s or k.rsplit(".", 1)[0] == s for k in built) for _, s in picker.mapping)


def test_kept_layers_are_told_apart_from_dropped_ones_at_a_glance(teacher):
    """In a real browser pressed and unpressed toggle buttons looked nearly alike: kept layers are green, ticked."""
    picker = LayerPicker(teacher, layers=[1, 3])
    assert [(b.button_style, b.icon) for b in picker.buttons] == [
        ("", ""), ("success", "check"), ("", ""), ("success", "check"), ("", ""), ("", "")]
    picker.buttons[1].value = False                                 # a learner unticks layer 1
    assert (picker.buttons[1].button_style, picker.buttons[1].icon) == ("", "")
    picker.select([])                                                # even an empty choice shows plain buttons
    assert {(b.button_style, b.icon) for b in picker.buttons} == {("", "")}
    picker.reset.click()
    assert [b.button_style == "success" for b in picker.buttons] == [i in (0, 2, 4) for i in range(6)]
