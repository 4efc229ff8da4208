"""The temperature slider, driven through its Python API as a learner drives it with the mouse."""
import math

import pytest
import torch

from kd_teach import softmax_with_temperature
from kd_teach.widgets import TemperatureExplorer


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


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="one label per class"):
        TemperatureExplorer([1.0, 2.0], ["only one"])
