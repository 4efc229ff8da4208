"""Labels beside scatter points that neither cover each other nor the points, nor leave the axes.

Every chart of rows against a cost (the results table's, notebook 8's and 9's explorers, the deployment
frontier) names its points; rows of one shape sit close together, and a fixed offset piles their names
into an unreadable smear. :func:`label_points` tries a few places around each point, in order, and keeps
the first where the label's box meets no label already placed, no point and no edge of the axes (the
least-overlapping place when none is free).
"""
from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.transforms import Bbox

# Offsets from the point in typographic points, tried in order; a negative x puts the label's right edge there.
OFFSETS = ((4, 4), (4, -11), (-4, 4), (-4, -11), (4, 13), (4, -20), (-4, 13), (-4, -20), (12, -4), (-12, -4))
MARKER = 5  # half the side, in pixels, of the box a point's marker is taken to cover


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def label_points(ax: Axes, points: Sequence[tuple], fontsize: float = 7, **style) -> list:
    """Annotate each point ``(x, y, text)`` or ``(x, y, text, colour)`` of ``ax``, labels kept apart.

    Call it once the data are drawn and the limits set: places are chosen on the figure as it will be
    drawn. ``style`` goes to every ``ax.annotate``. Returns the annotations.
    """
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)                                   # a Figure made without pyplot has no renderer yet
    fig.canvas.draw()                                          # settles the layout, so positions are final
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_pixels = ax.transData.transform
    markers = [Bbox.from_bounds(px - MARKER, py - MARKER, 2 * MARKER, 2 * MARKER)
               for px, py in (to_pixels((p[0], p[1])) for p in points)]
    placed, out = [], []
    for k, p in enumerate(points):
        x, y, text = p[:3]
        colour = p[3] if len(p) > 3 else style.get("color")
        best = None
        for dx, dy in OFFSETS:
            ann = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                              ha="left" if dx >= 0 else "right", **{**style, "color": colour})
            box = ann.get_window_extent(renderer)
            outside = box.width * box.height - _overlap(box, frame)
            cost = sum(_overlap(box, b) for b in placed) + sum(_overlap(box, m) for i, m in enumerate(markers)
                                                               if i != k) + outside
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == 0:
                break
        placed.append(best[2])
        out.append(best[1])
    return out
