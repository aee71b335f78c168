import pytest

from pipelines.config import ConfigError, apply_override, config_as_data, config_from_dict

BASE = {"input": {"paths": ["in/*.jsonl"]}, "output": {"dir": "out"}, "stages": [{"exact_dedup": {}}]}


def load(raw, overrides=None):
    return config_from_dict(raw, "/cfg", overrides=overrides)


def test_defaults_and_relative_paths_resolve_against_config_dir():
    cfg = load(BASE)
    assert cfg.input[0].paths == ["/cfg/in/*.jsonl"]
    assert cfg.output.dir == "/cfg/out"
    assert cfg.output.shard_rows == 5000 and cfg.output.zstd_level == 3
    assert cfg.runner.name == "FnApiRunner"
    assert [e.label for e in cfg.stage_entries()] == ["exact_dedup"]


def test_remote_paths_are_untouched():
    cfg = load({**BASE, "input": {"paths": ["gs://bucket/x/*.jsonl.zst"]}, "output": {"dir": "gs://bucket/out"}})
    assert cfg.input[0].paths == ["gs://bucket/x/*.jsonl.zst"] and cfg.output.dir == "gs://bucket/out"


def test_error_names_key_value_and_expectation():
    with pytest.raises(ConfigError) as err:
        load({**BASE, "output": {"dir": "o", "shard_rows": "many", "zstd_level": 40}})
    text = str(err.value)
    assert "output.shard_rows = 'many'" in text and "integer" in text
    assert "output.zstd_level = 40" in text and "22" in text


def test_unknown_keys_and_stages_are_rejected():
    with pytest.raises(ConfigError) as err:
        load({**BASE, "outptu": {}, "stages": [{"exact_dedupe": {}}, {"exact_dedup": {"foo": 1}}]})
    text = str(err.value)
    assert "outptu: unknown key" in text
    assert "stages[0] = 'exact_dedupe': unknown stage" in text
    assert "stages[1].exact_dedup.foo: unknown key" in text


def test_missing_required_key():
    with pytest.raises(ConfigError, match="output: required key is missing"):
        load({"input": {"paths": ["x"]}})


def test_overrides_by_path_index_and_stage_name():
    raw = {**BASE, "stages": [{"exact_dedup": None}]}
    apply_override(raw, "output.shard_rows=10")
    apply_override(raw, "runner.options.direct_num_workers=2")
    assert raw["output"]["shard_rows"] == 10 and raw["runner"]["options"]["direct_num_workers"] == 2
    cfg = load(BASE, overrides=["seed=7", "output.zstd_level=9"])
    assert cfg.seed == 7 and cfg.output.zstd_level == 9
    with pytest.raises(ConfigError, match="no list item 'nope'"):
        load(BASE, overrides=["stages.nope.x=1"])


def test_repeated_stage_gets_unique_label_and_config_round_trips():
    cfg = load({**BASE, "stages": ["exact_dedup", {"exact_dedup": {}}]})
    assert [e.label for e in cfg.stage_entries()] == ["exact_dedup", "exact_dedup#2"]
    assert config_as_data(cfg)["stages"] == [{"exact_dedup": {}}, {"exact_dedup": {}}]
