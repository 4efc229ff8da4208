"""A leaderboard explorer: accuracy against a cost, over the rows and seeds you choose (notebook 08).

Pick the cost (batch-1 or batch-32 latency, parameters, size), the rows and the seeds, and a
budget on the cost. :class:`LeaderboardExplorer` averages each row over the chosen seeds (given
the dev labels, with the 95% interval of :func:`kd_teach.engine.significance.accuracy_interval`:
the bootstrap over dev sentences and the chosen seeds; else mean ± sd), marks the Pareto frontier (:func:`kd_teach.engine.frontier.pareto_front`) and
names the most accurate row within the budget, the question a deployment asks. State lives in
plain attributes (``points``, ``front``, ``best``) so tests drive it through the Python API.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

from kd_teach.course.attention_view import chart_image, figure_png
from kd_teach.engine.frontier import COSTS, best_under_budget, mean_points, pareto_front
from kd_teach.engine.plot_labels import label_points
from kd_teach.engine.report import run_caption
from kd_teach.engine.significance import accuracy_interval, correctness, decode_labels


class LeaderboardExplorer:
    """Controls for cost, rows, seeds and budget over a results table; a table and a scatter plot.

    Args:
        rows: results rows (``results.json``'s ``rows``), one per (name, seed).
        cost: the initial cost, a key of :data:`kd_teach.engine.frontier.COSTS`.
        budget: the initial budget on the cost (None: the largest cost in the table, everything fits).
        labels: the dev labels the rows' ``predictions`` are scored against (results.json's ``dev_labels``):
            each point then shows its 95% interval; None: mean ± sd over the seeds.
    Raises:
        ValueError: if ``rows`` is empty or ``cost`` is unknown.
    """

    def __init__(self, rows: list[dict], cost: str = "latency_ms_b1", budget: float | None = None, labels=None):
        if not rows:
            raise ValueError("rows is empty: give the rows of a results table (results.json's 'rows')")
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {sorted(COSTS)}, got {cost!r}")
        self.rows = rows
        self.labels = None if labels is None else decode_labels(labels)
        self._intervals: dict[tuple, tuple[float, float]] = {}  # (name, seeds) -> (low, high): computed once
        names = list(dict.fromkeys(r["name"] for r in rows))
        seeds = sorted({r["seed"] for r in rows})
        self.cost_box = widgets.Dropdown(options=[(label, key) for key, label in COSTS.items()], value=cost,
                                         description="cost", layout=widgets.Layout(width="max-content"))
        self.rows_box = widgets.SelectMultiple(options=names, value=tuple(names), rows=min(len(names), 10),
                                               description="rows")
        self.seed_boxes = [widgets.Checkbox(value=True, description=f"seed {s}", indent=False) for s in seeds]
        self.seeds_all = seeds
        self.budget_box = widgets.FloatSlider(description="budget", readout_format=".3g",
                                              layout=widgets.Layout(width="60%"))
        self.text = widgets.HTML()
        self.chart = chart_image()
        self._holding = False  # True while the budget slider is re-ranged: one redraw per change, not four
        self._set_budget_range(budget)
        self.cost_box.observe(lambda change: (self._set_budget_range(None), self.update()), names="value")
        for control in (self.rows_box, self.budget_box, *self.seed_boxes):
            control.observe(lambda change: self._holding or self.update(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.cost_box, self.rows_box]), widgets.HBox(self.seed_boxes),
                                    self.budget_box, self.text, self.chart])
        self.update()

    @property
    def cost(self) -> str:
        return self.cost_box.value

    @property
    def seeds(self) -> list[int]:
        return [s for s, box in zip(self.seeds_all, self.seed_boxes) if box.value]

    def _set_budget_range(self, budget: float | None) -> None:
        """Let the budget slider span the chosen cost's range; start at ``budget`` (or the top)."""
        values = [r[self.cost] for r in self.rows]
        top = max(values) * 1.05
        self._holding = True  # the slider's value moves with its range; the caller redraws once
        try:
            # One message to the browser for all four: sent one by one, the new step reached the slider while it
            # still held the old value, which it snapped to 0 and sent back, after the new value (a "budget of 0").
            with self.budget_box.hold_sync():
                self.budget_box.max = top
                self.budget_box.value = top if budget is None else budget
                self.budget_box.min = 0.0
                self.budget_box.step = top / 200
        finally:
            self._holding = False

    def update(self) -> None:
        """Average the chosen rows over the chosen seeds; find the frontier and the best row in budget."""
        chosen = [r for r in self.rows if r["name"] in self.rows_box.value]
        self.points = mean_points(chosen, self.cost, self.seeds)
        for p in self.points:
            p["low"], p["high"] = self._interval(p["name"]) if self.labels is not None else \
                (p["accuracy"] - p["sd"], p["accuracy"] + p["sd"])
        self.front = pareto_front(self.points) if self.points else []
        self.best = best_under_budget(self.points, self.budget_box.value) if self.budget_box.value > 0 else None
        self.text.value = self._table()
        self.chart.value = figure_png(self.figure())

    def _interval(self, name: str) -> tuple[float, float]:
        """The 95% interval of ``name``'s mean accuracy over the chosen seeds (bootstrap over dev sentences)."""
        key = (name, tuple(self.seeds))
        if key not in self._intervals:
            group = sorted((r for r in self.rows if r["name"] == name and r["seed"] in self.seeds),
                           key=lambda r: r["seed"])
            ci = accuracy_interval(correctness(group, self.labels))
            self._intervals[key] = (ci.low, ci.high)
        return self._intervals[key]

    def _table(self) -> str:
        if not self.points:
            return "<i>no row has a run for the chosen seeds</i>"
        fmt = "{:,.0f}" if self.cost == "params" else "{:.2f}"
        spread = "mean [95% interval]" if self.labels is not None else "mean ± sd"
        lines = [f"<table><tr><th>row</th><th>seeds</th><th>dev acc ({spread})</th>"
                 f"<th>{html.escape(COSTS[self.cost])}</th><th>frontier</th></tr>"]
        for p in sorted(self.points, key=lambda p: -p["accuracy"]):
            mark = "★" if p["name"] in self.front else ""
            bold = ("<b>", "</b>") if self.best and p["name"] == self.best["name"] else ("", "")
            lines.append(f"<tr><td>{bold[0]}{html.escape(p['name'])}{bold[1]}</td><td>{p['n']}</td>"
                         f"<td>{self._spread(p)}</td><td>{fmt.format(p['cost'])}</td>"
                         f"<td>{mark}</td></tr>")
        lines.append("</table>")
        budget = fmt.format(self.budget_box.value)
        lines.append(f"Best within a budget of {budget}: <b>{html.escape(self.best['name'])}</b>"
                     if self.best else f"No chosen row fits a budget of {budget}.")
        return "\n".join(lines)

    def _spread(self, p: dict) -> str:
        if self.labels is None:
            return f"{p['accuracy']:.4f} ± {p['sd']:.4f}"
        return f"{p['accuracy']:.4f} [{p['low']:.4f}, {p['high']:.4f}]"

    def figure(self) -> Figure:
        """Accuracy (mean, with its 95% interval or ± sd) against the cost; the frontier joined by a line; the budget as a dashed line."""
        fig = Figure(figsize=(7.5, 3.6), layout="constrained")
        ax = fig.subplots()
        for p in self.points:
            on = p["name"] in self.front
            ax.errorbar(p["cost"], p["accuracy"], yerr=[[p["accuracy"] - p["low"]], [p["high"] - p["accuracy"]]],
                        fmt="o", color="tab:blue" if on else "tab:gray")
        front = sorted((p for p in self.points if p["name"] in self.front), key=lambda p: p["cost"])
        if front:
            ax.step([p["cost"] for p in front], [p["accuracy"] for p in front], where="post", color="tab:blue",
                    alpha=0.5, label="frontier")
        ax.axvline(self.budget_box.value, color="tab:red", linestyle="--", label="budget")
        ax.set_xlabel(COSTS[self.cost])
        ax.set_ylabel("SST-2 dev accuracy" + (" (bars: 95% interval)" if self.labels is not None else " (bars: sd)"))
        ax.legend(loc="lower right", fontsize=8)
        chosen = [r for r in self.rows if r.get("seed") in self.seeds]
        ax.set_title(f"means over the seeds ({run_caption(chosen)})", fontsize=9)
        ax.margins(x=0.12)                              # room for the names at the edges
        label_points(ax, [(p["cost"], p["accuracy"], p["name"]) for p in self.points])
        return fig

    def _ipython_display_(self) -> None:
        display(self.widget)
