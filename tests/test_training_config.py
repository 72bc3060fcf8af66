import pytest

from mtdagger.training.beta import ConstantBeta, ExponentialBeta, LinearBeta, make_beta_schedule
from mtdagger.training.config import apply_overrides, config_from_dict, load_train_config


def test_presets_load_and_pointcloud_presets_carry_a_contract():
    for name in ("mt10-state-quick", "mt10-pointcloud-tiny", "mt10-pointcloud"):
        config = load_train_config(f"configs/{name}.yaml")
        assert config.name == name
        assert (config.point_cloud is not None) == config.uses_point_clouds


def test_unknown_key_is_an_error_naming_the_section():
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['epochz'\] in bc"):
        config_from_dict({"bc": {"epochz": 3}})


def test_pointnet_without_contract_is_refused():
    with pytest.raises(ValueError, match="point_cloud"):
        config_from_dict({"student": {"architecture": "pointnet"}})


def test_overrides_parse_yaml_values_into_nested_sections():
    data = apply_overrides({"dagger": {"rounds": 6}}, ["dagger.rounds=2", "scheduler.temperature=0.1"])
    config = config_from_dict(data)
    assert config.dagger.rounds == 2
    assert config.scheduler.temperature == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"key\.path=value"):
        apply_overrides({}, ["dagger.rounds"])


def test_round_trip_through_dict_is_identity():
    config = load_train_config("configs/mt10-pointcloud-tiny.yaml")
    assert config_from_dict(config.to_dict()) == config


def test_beta_schedules():
    assert LinearBeta(4)(0) == 1.0 and LinearBeta(4)(2) == 0.5 and LinearBeta(4)(9) == 0.0
    assert ExponentialBeta(0.5)(3) == pytest.approx(0.125)
    assert ConstantBeta(0.2)(0) == 1.0 and ConstantBeta(0.2)(5) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="valid: constant, linear, exponential"):
        make_beta_schedule("cosine")
