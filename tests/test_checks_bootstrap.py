"""The checker of notebook 08's paired-bootstrap exercise: passes a right answer, names each usual mistake."""
import re

import numpy as np
import pytest

from kd_teach.course.checks.bootstrap import check_paired_bootstrap
from kd_teach.course.checks.core import CheckFailed


def _resample(d, n_resamples, seed):
    return d[np.random.default_rng(seed).integers(0, d.size, (n_resamples, d.size))].mean(1)


def right(a, b, n_resamples=10_000, seed=0):
    return tuple(np.percentile(_resample(a.mean(0) - b.mean(0), n_resamples, seed), [2.5, 97.5]))


def unpaired(a, b, n_resamples=10_000, seed=0):
    diff = _resample(a.mean(0), n_resamples, seed) - _resample(b.mean(0), n_resamples, seed + 1)
    return tuple(np.percentile(diff, [2.5, 97.5]))


def one_resample_per_seed(a, b, n_resamples=10_000, seed=0):
    means = np.mean([_resample(a[k] - b[k], n_resamples, seed + k) for k in range(len(a))], axis=0)
    return tuple(np.percentile(means, [2.5, 97.5]))


def test_a_right_paired_bootstrap_passes(capsys):
    check_paired_bootstrap(right)
    assert capsys.readouterr().out.startswith("✓ paired_bootstrap agrees with kd_teach.engine.significance")


@pytest.mark.parametrize("fn, hint", [
    (unpaired, "resampled independently"),
    (one_resample_per_seed, "each seed got its own resample"),
    (lambda a, b, r=10_000, s=0: tuple(np.percentile(_resample(a.mean(0) - b.mean(0), r, s), [5, 95])), "90% interval"),
    (lambda a, b, r=10_000, s=0: right(b, a, r, s), "b - a"),
    (lambda a, b, r=10_000, s=0: right(a[:1], b[:1], r, s), "only the first seed"),
    (lambda a, b, r=10_000, s=0: (0.0, 1.0), re.escape("d = correct_a.mean(0) - correct_b.mean(0) per sentence")),
    (lambda a, b, r=10_000, s=0: 0.5, "expected two numbers"),
    (lambda a, b: (0, 0), "called as paired_bootstrap\\(correct_a, correct_b, n_resamples, seed\\)"),
])
def test_each_usual_mistake_is_named(fn, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_paired_bootstrap(fn)
