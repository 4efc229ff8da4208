"""How the cache names what it holds."""


def test_cache_paths_are_shown_relative_to_the_cache_root(tmp_path, monkeypatch):
    from kd_teach.engine.cache import shown

    monkeypatch.setenv("KD_TEACH_CACHE_DIR", str(tmp_path))
    assert shown(tmp_path / "teachers" / "t-cpu-abc" / "model") == "<cache>/teachers/t-cpu-abc/model"
    assert shown("/elsewhere/model") == "/elsewhere/model"            # outside the cache: as given


def test_a_cached_teachers_dev_scores_are_kept_per_dev_set(tmp_path):
    from types import SimpleNamespace

    from kd_teach.engine.cache import store_teacher_dev_scores, teacher_dev_scores

    info = {"path": str(tmp_path / "model")}
    dev = SimpleNamespace(dev_sentences=["a good film .", "dull ."], dev_raw={"label": [1, 0]}, max_length=64)
    assert teacher_dev_scores(info, dev) is None                                  # never scored: None
    store_teacher_dev_scores(info, dev, 0.5, "10")
    assert teacher_dev_scores(info, dev) == (0.5, "10")
    other = SimpleNamespace(dev_sentences=["a good film ."], dev_raw={"label": [1]}, max_length=64)
    shorter = SimpleNamespace(**{**vars(dev), "max_length": 8})
    assert teacher_dev_scores(info, other) is None and teacher_dev_scores(info, shorter) is None
    store_teacher_dev_scores(info, other, 1.0, "1")                               # both kept
    assert teacher_dev_scores(info, dev) == (0.5, "10") and teacher_dev_scores(info, other) == (1.0, "1")


def test_quiet_transformers_hides_progress_bars_and_restores_them():
    from transformers.utils import logging as hf_logging

    from kd_teach.engine.models import quiet_transformers

    before = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    try:
        with quiet_transformers():
            assert not hf_logging.is_progress_bar_enabled()   # no "Loading weights" bar in a stored output
        assert hf_logging.is_progress_bar_enabled()           # the user's setting is theirs again
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()
