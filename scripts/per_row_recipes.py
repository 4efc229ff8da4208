"""Re-key committed results.json files from whole-preset recipes to per-row recipes (run once, 2026-12-07).

A row's ``recipe`` used to be the key of the whole preset it was run with, so changing any chapter's
settings made every row of every chapter stale. It is now the key of the settings that shape the row
(:func:`kd_teach.engine.pipeline.row_recipe`). The settings are the same ones, read from the table's own
``recipes``: this only renames each row's key and stores the projected settings under it. Nothing is
measured or trained. Old keys no row uses any more are dropped.

    python scripts/per_row_recipes.py results/cpu/results.json [more results.json ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from kd_teach.engine.cache import recipe_key
from kd_teach.engine.pipeline import row_recipe
from kd_teach.engine.report import load_results, write_json


def rekey(path: Path) -> int:
    """Rewrite ``path`` in place; return the number of rows whose key changed."""
    table = load_results(path)
    old_recipes, recipes, changed = table.get("recipes", {}), {}, 0
    for row in table["rows"]:
        settings = old_recipes.get(row.get("recipe"))
        if settings is None:
            raise SystemExit(f"{path}: row {row['name']} seed {row.get('seed')} has recipe {row.get('recipe')!r}, "
                             "which the table's recipes do not hold")
        projected = row_recipe(row["name"], settings)
        key = recipe_key(settings["name"], projected)          # as preset_key(preset, name) names it
        changed += key != row["recipe"]
        row["recipe"], recipes[key] = key, projected
    table["recipes"] = recipes
    write_json(path, table)
    return changed


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {rekey(Path(arg))} rows re-keyed")
