"""Level 2's configuration refuses what level 1's does, in its own larger schema."""

import pytest

from level2_cicd.config import DEFAULT_CONFIG, Config, ConfigError, load_config


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
    assert {"model.l2", "gate.champion_tolerance", "serving.refresh_seconds"} <= set(fields)

    for field in fields:
        with pytest.raises(ConfigError, match=rf"field '{field}': Input should be a finite number"):
            load_config(DEFAULT_CONFIG, {field: value})


def test_a_folder_given_as_the_configuration_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path)

    assert str(refused.value) == f"{tmp_path}: a folder, not a configuration file"
