"""Live loss curves: every logged entry lands in its panel; a term switched off leaves its panel empty."""
import pytest

from kd_teach.course.live_plot import LiveLossCurves


def test_curves_follow_the_history():
    curves = LiveLossCurves(["loss", "L_ce", "L_cos"], redraw_every=2)
    for step in range(1, 6):
        curves.update({"step": step, "loss": 10.0 / step, "L_ce": 1.0 / step})  # no L_cos: switched off
    assert curves.series("loss") == ([1, 2, 3, 4, 5], [10.0, 5.0, 10 / 3, 2.5, 2.0])
    assert curves.series("L_cos") == ([], [])
    fig = curves.figure()
    lines = [ax.get_lines()[0] for ax in fig.axes]
    assert [ax.get_title() for ax in fig.axes] == ["loss", "L_ce", "L_cos"]
    assert list(lines[1].get_ydata()) == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert len(lines[2].get_xdata()) == 0


@pytest.mark.parametrize("kwargs, message", [({"keys": []}, "keys must name at least one"),
                                             ({"redraw_every": 0}, "redraw_every must be >= 1, got 0")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiveLossCurves(**kwargs)
