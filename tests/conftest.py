"""Shared fixtures: the real SST-2 rows and one smoke-size fine-tuned teacher for the whole suite.

The teacher is fine-tuned once (about half a minute) and cached under ``$KD_TEACH_CACHE_DIR``
(default ``~/.cache/kd_teach``); the notebooks run afterwards by nbval load the same copy.
"""
from __future__ import annotations

import pytest
import torch

from kd_teach.presets import get_preset


@pytest.fixture(scope="session", autouse=True)
def _two_threads():
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def smoke_preset():
    return get_preset("smoke")


@pytest.fixture(scope="session")
def tokenizer(smoke_preset):
    from kd_teach.models import load_tokenizer

    return load_tokenizer(smoke_preset.teacher)


@pytest.fixture(scope="session")
def smoke_data(smoke_preset, tokenizer):
    from kd_teach.data import SST2Data

    return SST2Data(tokenizer, smoke_preset.train_size, smoke_preset.dev_size, smoke_preset.max_length)


@pytest.fixture(scope="session")
def smoke_teacher(smoke_preset, smoke_data):
    from kd_teach.cache import finetuned_teacher

    return finetuned_teacher(smoke_preset, smoke_data)
