"""Shared fixtures: the real SST-2 rows and one smoke-size fine-tuned teacher for the whole suite.

The teacher is fine-tuned once (about half a minute) and cached under ``$KD_TEACH_CACHE_DIR``;
the notebooks run afterwards by nbval load the same copy. A test run never uses the user's cache
(``~/.cache/kd_teach``): it gets a fresh one under pytest's temporary directory, shared by every
test and notebook of the run and removed after it, so a stale cached model can never make a test pass.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest
import torch
from hypothesis import settings

from kd_teach.engine.presets import get_preset

# Property tests draw new examples on every run, except under `.ci/run` (HYPOTHESIS_PROFILE=ci):
# CI derandomises them, so a submission passes or fails the same way every time.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.hookimpl(trylast=True)  # after pytest's tmp_path plugin has set up its temporary directory
def pytest_configure(config):
    # Notebooks under nbval run at the smoke preset; their kernels inherit this. (Notebook 08 would
    # otherwise pick the cpu or gpu-full preset from the hardware.)
    os.environ.setdefault("KD_TEACH_PRESET", "smoke")
    # No progress bars in kernels under test: in a notebook each bar is a widget, and a long cell's stream
    # of widget messages made nbval miss the end of notebook 08's training cell (its 5 s output wait).
    os.environ.setdefault("TQDM_DISABLE", "1")
    # A fresh cache for this run (kernels started by nbval and CLI subprocesses inherit it).
    factory = getattr(config, "_tmp_path_factory", None)  # pytest's own (--basetemp is honoured)
    config._kd_teach_cache = (str(factory.mktemp("kd_teach-cache")) if factory is not None
                              else tempfile.mkdtemp(prefix="kd_teach-test-cache-"))
    os.environ["KD_TEACH_CACHE_DIR"] = config._kd_teach_cache


def pytest_collection_modifyitems(session, config, items):
    """``KD_TEACH_TEST_ORDER=reverse`` or ``random:<seed>`` runs the suite in another order, to show that
    no test depends on another having run first. Files are reordered, and the tests inside each
    Python file; a notebook's cells keep their order (they are one program)."""
    order = os.environ.get("KD_TEACH_TEST_ORDER", "")
    if not order:
        return
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(str(item.path), []).append(item)
    files = list(groups)
    if order == "reverse":
        files.reverse()
        shuffle = lambda xs: xs.reverse()  # noqa: E731
    elif order.startswith("random:"):
        import random

        rng = random.Random(int(order.split(":", 1)[1]))
        rng.shuffle(files)
        shuffle = rng.shuffle
    else:
        raise pytest.UsageError(f"KD_TEACH_TEST_ORDER must be 'reverse' or 'random:<seed>', got {order!r}")
    for f in files:
        if f.endswith(".py"):
            shuffle(groups[f])
    items[:] = [item for f in files for item in groups[f]]


def pytest_unconfigure(config):
    cache = getattr(config, "_kd_teach_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def smoke_preset():
    return get_preset("smoke")


@pytest.fixture(scope="session")
def tokenizer(smoke_preset):
    from kd_teach.engine.models import load_tokenizer

    return load_tokenizer(smoke_preset.teacher)


@pytest.fixture(scope="session")
def smoke_data(smoke_preset, tokenizer):
    from kd_teach.engine.data import SST2Data

    return SST2Data(tokenizer, smoke_preset.train_size, smoke_preset.dev_size, smoke_preset.max_length)


@pytest.fixture(scope="session")
def smoke_teacher(smoke_preset, smoke_data):
    from kd_teach.engine.cache import finetuned_teacher

    return finetuned_teacher(smoke_preset, smoke_data)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After a run that includes tests/test_questions.py, print the bank's coverage of the syllabus."""
    ran = any("test_questions.py" in getattr(report, "nodeid", "")
              for reports in terminalreporter.stats.values() for report in reports)
    if not ran:
        return
    try:
        from kd_teach.course.bank import SYLLABUS, coverage

        table = coverage()
    except ValueError as err:  # a broken bank is reported by the tests themselves
        terminalreporter.write_line(f"question bank coverage unavailable: {err}")
        return
    terminalreporter.write_sep("-", "question bank coverage per syllabus item")
    terminalreporter.write_line(f"{'item':>4} · {'topic':<22} · {'questions':>9} · kinds")
    for slug, row in table.items():
        kinds = ", ".join(row["kinds"])
        terminalreporter.write_line(f"{SYLLABUS[slug][0]:>4} · {slug:<22} · {row['count']:>9} · {kinds}")
    terminalreporter.write_line(f"{'':>4}   {'total':<22}   {sum(r['count'] for r in table.values()):>9}")


@pytest.fixture(scope="session")
def smoke_corpus(smoke_preset, tokenizer):
    """The real general corpus (wikitext + gutenberg), chunked at the smoke length."""
    from kd_teach.engine.corpus import Corpus

    return Corpus(tokenizer, smoke_preset.corpus_max_length, smoke_preset.corpus_heldout)


@pytest.fixture(scope="session")
def smoke_mlm_teacher(smoke_preset, smoke_corpus):
    """The packaged teacher with its MLM head trained at the smoke preset; cached like the SST-2 teacher."""
    from kd_teach.engine.cache import mlm_teacher

    return mlm_teacher(smoke_preset, smoke_corpus, log=lambda *_: None)


@pytest.fixture(scope="session")
def smoke_general_tinybert(smoke_preset, smoke_corpus):
    """The general TinyBERT of the smoke preset (general distillation on the corpus); cached like the teachers."""
    from kd_teach.engine.cache import general_tinybert

    return general_tinybert(smoke_preset, smoke_corpus, log=lambda *_: None)
