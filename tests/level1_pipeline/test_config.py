"""The configuration: config.toml plus overrides, refused up front naming the offending field."""

from pathlib import Path

import pytest

from level1_pipeline.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    as_dict,
    load_config,
    parse_overrides,
)


def test_the_shipped_file_loads_with_its_values():
    config = load_config(DEFAULT_CONFIG)

    assert config.data.path == Path("state/datasets/stable-small-seed42")
    assert config.split.test_fraction == 0.2
    assert config.model.l2 == 200.0
    assert config.evaluation.k == 10
    assert config.expectations.min_interactions == 1000
    assert config.expectations.max_price == 5000.0
    assert config.tracking.experiment == "level1_pipeline"
    assert config.tracking.state_dir == Path("state/level1_pipeline")
    assert config.schedule.interval_minutes == 1440


def test_overrides_are_converted_to_the_fields_types():
    overrides = parse_overrides(["model.l2=500", " evaluation.k = 20 ", "data.path=some/where"])

    config = load_config(DEFAULT_CONFIG, overrides)

    assert overrides == {"model.l2": "500", "evaluation.k": "20", "data.path": "some/where"}
    assert config.model.l2 == 500.0
    assert isinstance(config.model.l2, float)
    assert config.evaluation.k == 20
    assert isinstance(config.evaluation.k, int)
    assert config.data.path == Path("some/where")
    assert config.split.test_fraction == 0.2  # untouched values keep the file's


def test_flat_parameters_and_json_form_cover_every_field():
    config = load_config(DEFAULT_CONFIG, {"model.l2": "500"})

    flat = config.flat()
    assert flat["model.l2"] == "500.0"
    assert flat["data.path"] == "state/datasets/stable-small-seed42"
    assert flat["evaluation.k"] == "10"
    assert len(flat) == sum(len(section) for section in as_dict(config).values())
    assert as_dict(config)["tracking"]["state_dir"] == "state/level1_pipeline"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model.alpha": "1"}, "field 'model.alpha'"),
        ({"modle.l2": "500"}, "field 'modle'"),
        ({"evaluation.k": "0"}, "field 'evaluation.k'"),
        ({"evaluation.k": "ten"}, "field 'evaluation.k'"),
        ({"split.test_fraction": "1.5"}, "field 'split.test_fraction'"),
        ({"model.l2": "-1"}, "field 'model.l2'"),
        ({"tracking.experiment": ""}, "field 'tracking.experiment'"),
    ],
    ids=["unknown-key", "unknown-section", "k-zero", "k-text", "fraction", "l2", "empty-name"],
)
def test_a_bad_override_is_refused_naming_the_field(overrides, field):
    with pytest.raises(ConfigError) as refused:
        load_config(DEFAULT_CONFIG, overrides)

    assert field in str(refused.value)
    assert str(DEFAULT_CONFIG) in str(refused.value)


def test_every_bad_field_is_named_at_once():
    with pytest.raises(ConfigError) as refused:
        load_config(DEFAULT_CONFIG, {"evaluation.k": "0", "split.test_fraction": "1.5"})

    assert "field 'evaluation.k'" in str(refused.value)
    assert "field 'split.test_fraction'" in str(refused.value)


@pytest.mark.parametrize("pair", ["model.l2", "model.l2:500"])
def test_an_override_without_equals_sign_is_refused(pair):
    with pytest.raises(ConfigError, match=r"override .*expected section\.key=value"):
        parse_overrides([pair])


def test_an_override_without_section_is_refused():
    with pytest.raises(ConfigError, match=r"override 'l2': expected section\.key=value"):
        load_config(DEFAULT_CONFIG, {"l2": "500"})


def test_a_missing_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError, match="no such configuration file") as refused:
        load_config(path)

    assert str(path) in str(refused.value)


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[model]\nl2 = = 5\n")

    with pytest.raises(ConfigError, match="not valid TOML") as refused:
        load_config(path)

    assert str(path) in str(refused.value)


def test_a_file_with_an_unknown_key_or_no_data_section_is_refused(tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[data]\npath = 'x'\n[model]\nl3 = 5.0\n")
    no_data = tmp_path / "no-data.toml"
    no_data.write_text("[model]\nl2 = 5.0\n")

    with pytest.raises(ConfigError, match=r"field 'model\.l3'"):
        load_config(typo)
    with pytest.raises(ConfigError, match="field 'data'"):
        load_config(no_data)


def test_a_minimal_file_takes_the_defaults(tmp_path):
    path = tmp_path / "minimal.toml"
    path.write_text("[data]\npath = 'x'\n")

    config = load_config(path)

    assert config.model.l2 == 200.0
    assert config.evaluation.k == 10
    assert config.split.test_fraction == 0.2


def float_fields() -> list[str]:
    """Every ``section.key`` of the schema that holds a float."""
    return [
        f"{section}.{key}"
        for section, field in Config.model_fields.items()
        for key, value in field.annotation.model_fields.items()
        if value.annotation is float
    ]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_no_float_field_takes_a_value_that_is_not_finite(value):
    fields = float_fields()
    assert {"model.l2", "split.test_fraction", "expectations.max_price"} <= set(fields)

    for field in fields:
        with pytest.raises(ConfigError, match=rf"field '{field}': Input should be a finite number"):
            load_config(DEFAULT_CONFIG, {field: value})


def test_a_folder_given_as_the_configuration_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path)

    assert str(refused.value) == f"{tmp_path}: a folder, not a configuration file"


def test_a_configuration_file_that_is_not_utf8_is_refused_naming_it(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes("[data]\npath = 'caf\u00e9'\n".encode("latin-1"))

    with pytest.raises(ConfigError, match="not valid UTF-8 text") as refused:
        load_config(path)

    assert str(path) in str(refused.value)
