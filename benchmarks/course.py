"""What the course costs to check: the whole test suite's wall time, and each notebook's.

    python benchmarks/course.py [pytest arguments...]

Runs the test suite once (``python -m pytest``, as ``make test`` does; notebooks under nbval
at the smoke preset) with a JUnit XML report, then prints the suite's wall time and, from
the report, the time of each notebook (the sum of its cells) and of the rest, with each
one's share of the suite. Extra arguments go to pytest (e.g. ``notebooks`` for the
notebooks alone). A cold cache (no fine-tuned smoke teacher yet) adds the teachers'
training to the first test that needs them.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={report}", *sys.argv[1:]])
        wall = time.perf_counter() - t0
        cases = ET.parse(report).getroot().iter("testcase")
        seconds: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for case in cases:
            # an nbval cell's classname is its notebook's path with dots: "notebooks.02_hinton_kd.ipynb"
            classname = case.get("classname", "")
            if classname.endswith(".ipynb"):
                key = classname[:-len(".ipynb")].replace(".", "/") + ".ipynb"
            else:
                key = "tests/ (unit, property, browser)"
            seconds[key] += float(case.get("time", 0.0))
            counts[key] += 1
    print(f"\nwhole suite: {wall:.0f} s wall ({wall / 60:.1f} min), exit status {done.returncode}")
    print(f"| {'part':<40} | {'items':>5} | {'seconds':>8} | {'share':>6} |")
    print(f"|{'-' * 42}|{'-' * 6}:|{'-' * 9}:|{'-' * 7}:|")
    for key in sorted(seconds, key=lambda k: (not k.endswith(".ipynb"), k)):
        print(f"| {key:<40} | {counts[key]:>5} | {seconds[key]:>8.1f} | {seconds[key] / wall:>6.1%} |")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
