"""Notebook 05's layer-mapping picker, driven through its Python API as a learner drives its controls."""
import html

import pytest

from kd_teach.course.mapping_picker import MappingPicker, parse_layers
from kd_teach.tinybert.mapping import describe_mapping, layer_mapping


@pytest.mark.parametrize("M, N, strategy", [(4, 12, "uniform"), (4, 12, "top"), (4, 12, "bottom"), (2, 6, "uniform"),
                                            (3, 6, "top"), (6, 6, "uniform")])
def test_each_strategy_is_the_packages_mapping(M, N, strategy):
    picker = MappingPicker(1, 1, "bottom")
    chart = bytes(picker.chart.value)
    picker.teacher_layers.value, picker.student_layers.value, picker.strategy.value = N, M, strategy
    assert picker.g == layer_mapping(M, N, strategy) and picker.error is None
    assert describe_mapping(picker.g, N) in picker.message and f"g = {picker.g}" in picker.message
    assert html.unescape(picker.text.value).count("(L_hidn, L_attn)") == M       # one line per student layer
    assert bytes(picker.chart.value).startswith(b"\x89PNG") and bytes(picker.chart.value) != chart


def test_the_papers_example_and_a_custom_list():
    picker = MappingPicker(4, 12)
    assert picker.g == [0, 3, 6, 9, 12] and picker.custom.disabled               # TinyBERT4 from BERT-base
    picker.strategy.value = "custom"
    assert not picker.custom.disabled
    picker.custom.value = "[2, 5, 8, 11]"
    assert picker.g == layer_mapping(4, 12, [2, 5, 8, 11]) == [0, 2, 5, 8, 11]
    assert "student layer 2     -> teacher layer 5" in picker.message


@pytest.mark.parametrize("M, N, strategy, custom", [
    (4, 6, "uniform", ""),               # 6 / 4 is not a whole layer: the message suggests [2, 3, 5, 6]
    (7, 6, "top", ""),                   # more student layers than teacher layers
    (4, 6, "custom", "3, 2, 5, 6"),      # not increasing
    (4, 6, "custom", "2, 3, 5, 7"),      # layer 7 of a 6-layer teacher
    (4, 6, "custom", "2, 3, 5"),         # one layer short
])
def test_a_misfit_shows_the_packages_error(M, N, strategy, custom):
    picker = MappingPicker(2, 6)
    picker.custom.value = custom
    picker.teacher_layers.value, picker.student_layers.value, picker.strategy.value = N, M, strategy
    with pytest.raises(ValueError) as refusal:
        layer_mapping(M, N, strategy if strategy != "custom" else parse_layers(custom))
    assert picker.g is None and picker.error == str(refusal.value)
    assert picker.message == f"Refused: {refusal.value}" and str(refusal.value) in html.unescape(picker.text.value)
    assert picker.chart.value == b""                                    # no drawing of a mapping that is not one
    picker.strategy.value, picker.student_layers.value = "bottom", 2             # a fitting choice is drawn again
    assert picker.g == [0, 1, 2] and picker.error is None and bytes(picker.chart.value).startswith(b"\x89PNG")


def test_the_uniform_misfit_says_what_fits():
    picker = MappingPicker(4, 6)
    assert picker.g is None and "not uniform" in picker.error and "[2, 3, 5, 6]" in picker.error
    picker.strategy.value, picker.custom.value = "custom", "2, 3, 5, 6"          # the suggestion, typed in
    assert picker.g == [0, 2, 3, 5, 6]


@pytest.mark.parametrize("text", ["x", "2; 4", "2.5, 4", ""])
def test_text_that_is_not_a_list_of_layers_is_refused_in_words(text):
    picker = MappingPicker(2, 6, "custom", custom=text)
    assert picker.g is None and picker.error.startswith("a custom mapping is a list of whole teacher layer numbers")
    assert repr(text) in picker.error
    with pytest.raises(ValueError, match="whole teacher layer numbers"):
        parse_layers(text)


def test_parse_layers_reads_what_a_learner_types():
    assert parse_layers("2, 4, 6") == parse_layers("[2,4,6]") == parse_layers(" 2 4 6 ") == [2, 4, 6]


def test_an_unknown_starting_strategy_is_refused():
    with pytest.raises(ValueError, match=r"strategy must be one of \['uniform', 'top', 'bottom', 'custom'\]"):
        MappingPicker(2, 6, "middle")
