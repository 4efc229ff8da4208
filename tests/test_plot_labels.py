"""Names beside chart points: kept apart from each other and inside the axes, even for points close together."""
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kd_teach.engine.plot_labels import label_points


def test_close_points_get_labels_that_do_not_overlap_and_stay_inside():
    fig = Figure(figsize=(5, 3))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    points = [(1.0, 1.0, "distilbert"), (1.05, 1.0, "distilbert-init"), (1.0, 0.98, "hinton-kd"), (3.0, 0.5, "edge")]
    ax.scatter([p[0] for p in points], [p[1] for p in points])
    ax.set_xlim(0.5, 3.05)
    labels = label_points(ax, points)
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in labels]
    frame = ax.get_window_extent(renderer)
    assert [a.get_text() for a in labels] == [p[2] for p in points]
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1, points[i][2]
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two labels overlap"
