"""Loss curves that redraw while a stage trains: pass ``curves.update`` as a stage's ``on_log``.

    curves = LiveLossCurves(["L_ce", "L_mlm", "L_cos"])
    display(curves.widget)
    distil_pretraining(..., on_log=curves.update)

One panel per term, since the terms live on different scales (L_mlm in nats over 30,522
tokens, L_cos between 0 and 2). Works offline: a matplotlib PNG inside an ipywidgets Output.
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure


class LiveLossCurves:
    """Plots ``history`` entries ({"step", <term>: value, ...}) as they arrive.

    Args:
        keys: the entry keys to plot, one panel each (missing keys are skipped: an ablation
            that switches a term off simply leaves its panel empty).
        redraw_every: redraw after this many new entries (drawing costs ~0.1 s).
        title: the figure's title.
    Raises:
        ValueError: if ``keys`` is empty or ``redraw_every`` < 1.
    """

    def __init__(self, keys: Sequence[str] = ("loss",), redraw_every: int = 1, title: str = ""):
        if not keys:
            raise ValueError("keys must name at least one logged quantity, got an empty list")
        if redraw_every < 1:
            raise ValueError(f"redraw_every must be >= 1, got {redraw_every!r}")
        self.keys, self.redraw_every, self.title = list(keys), redraw_every, title
        self.history: list[dict] = []
        self.widget = widgets.Output()

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of ``key`` so far."""
        points = [(e["step"], e[key]) for e in self.history if key in e]
        return [s for s, _ in points], [v for _, v in points]

    def update(self, entry: dict) -> None:
        """Record one history entry; redraw every ``redraw_every`` entries."""
        self.history.append(entry)
        if len(self.history) % self.redraw_every == 0:
            self.draw()

    def figure(self) -> Figure:
        """The curves as a matplotlib Figure, one panel per key."""
        fig = Figure(figsize=(3.6 * len(self.keys), 3), layout="constrained")
        axes = fig.subplots(1, len(self.keys), squeeze=False)[0]
        for ax, key in zip(axes, self.keys):
            steps, values = self.series(key)
            ax.plot(steps, values, marker=".")
            ax.set_title(key)
            ax.set_xlabel("optimiser step")
            ax.grid(alpha=0.3)
        if self.title:
            fig.suptitle(self.title)
        return fig

    def draw(self) -> None:
        """Replace the plot in :attr:`widget` with the current curves."""
        fig = self.figure()
        with self.widget:
            self.widget.clear_output(wait=True)
            display(fig)
