"""How the cache names what it holds."""


def test_cache_paths_are_shown_relative_to_the_cache_root(tmp_path, monkeypatch):
    from kd_teach.engine.cache import shown

    monkeypatch.setenv("KD_TEACH_CACHE_DIR", str(tmp_path))
    assert shown(tmp_path / "teachers" / "t-cpu-abc" / "model") == "<cache>/teachers/t-cpu-abc/model"
    assert shown("/elsewhere/model") == "/elsewhere/model"            # outside the cache: as given
