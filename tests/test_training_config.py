import pytest

from mtdagger.training.beta import ConstantBeta, ExponentialBeta, LinearBeta, make_beta_schedule
from mtdagger.training.config import apply_overrides, config_from_dict, load_train_config


def test_presets_load_and_pointcloud_presets_carry_a_contract():
    for name in ("mt10-state-quick", "mt10-pointcloud-tiny", "mt10-pointcloud"):
        config = load_train_config(f"configs/{name}.yaml")
        assert config.name == name
        assert (config.point_cloud is not None) == config.uses_point_clouds


def test_the_gpu_mt10_preset_scales_the_cpu_recipe_without_changing_what_it_sees():
    """The GPU preset may train longer and wider, but its checkpoint must meet the same node
    config as the CPU preset's: same contract, same camera conditions, same student inputs."""
    cpu = load_train_config("configs/mt10-pointcloud-cpu.yaml")
    gpu = load_train_config("configs/mt10-pointcloud.yaml")
    assert gpu.point_cloud == cpu.point_cloud
    assert (gpu.sim.depth_noise, gpu.sim.randomize_camera) == (cpu.sim.depth_noise, cpu.sim.randomize_camera)
    for field in ("ee_relative", "task_embed_dim"):
        assert gpu.student.config[field] == cpu.student.config[field], field
    assert gpu.student.config["local_points"] >= cpu.student.config["local_points"] > 0
    assert gpu.dagger.initial_episodes_per_task >= cpu.dagger.initial_episodes_per_task


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


def test_scheduler_section_picks_the_schedulers_own_config_by_name():
    from mtdagger.scheduling import DratsConfig, TaskNeedConfig

    config = config_from_dict({"scheduler": {"name": "task_need", "temperature": 0.5, "min_per_task": 1}})
    assert config.scheduler == TaskNeedConfig(temperature=0.5, min_per_task=1)
    drats = config_from_dict({"scheduler": {"name": "drats", "eta": 4.0, "targets": {"reach-v3": 0.8}}})
    assert drats.scheduler == DratsConfig(eta=4.0, targets={"reach-v3": 0.8})
    assert config_from_dict({}).scheduler == TaskNeedConfig()  # no section: the default scheduler
    with pytest.raises(ValueError, match=r"\['temperature'\] in scheduler for name 'drats'; valid: .*'eta'"):
        config_from_dict({"scheduler": {"name": "drats", "temperature": 0.5}})
    with pytest.raises(ValueError, match=r"scheduler\.name='taskneed' is unknown; valid: uniform, task_need"):
        config_from_dict({"scheduler": {"name": "taskneed"}})


@pytest.mark.parametrize("name", ["uniform", "task_need", "perf_gain", "hybrid", "drats", "amf"])
def test_every_scheduler_round_trips_through_the_train_config(name):
    config = config_from_dict({"scheduler": {"name": name, "min_per_task": 2}})
    data = config.to_dict()
    assert data["scheduler"]["name"] == name and data["scheduler"]["min_per_task"] == 2
    assert config_from_dict(data) == config


def test_beta_section_is_the_typed_schedule():
    config = config_from_dict({"dagger": {"beta": {"schedule": "exponential", "decay": 0.7}}})
    assert config.dagger.beta == ExponentialBeta(0.7) and config.dagger.beta(2) == pytest.approx(0.49)
    assert config.to_dict()["dagger"]["beta"] == {"schedule": "exponential", "decay": 0.7}
    assert config_from_dict({}).dagger.beta == LinearBeta(3)  # the one default: LinearBeta's own
    assert make_beta_schedule("linear", rampdown_rounds=2) == LinearBeta(2)
    for bad, message in [
        ({"schedule": "linear", "params": {"rampdown_rounds": 2}}, r"\['params'\] in dagger.beta"),
        ({"schedule": "exponential", "decay": 1.5}, r"dagger\.beta\.decay must be >= 0 and <= 1"),
        ({"schedule": "linear", "rampdown_rounds": -1}, r"dagger\.beta\.rampdown_rounds must be >= 0"),
        ({"schedule": "constant", "value": "high"}, r"dagger\.beta\.value must be a number"),
    ]:
        with pytest.raises(ValueError, match=message):
            config_from_dict({"dagger": {"beta": bad}})
    with pytest.raises(ValueError, match=r"dagger\.beta\.value must be >= 0 and <= 1"):
        ConstantBeta(2.0)


def test_settable_keys_list_every_schedulers_and_schedules_fields():
    from mtdagger.training.config import settable_keys

    keys = settable_keys()
    for key in ("scheduler.name", "scheduler.temperature", "scheduler.eta", "scheduler.samples_per_task",
                "dagger.beta.schedule", "dagger.beta.rampdown_rounds", "dagger.beta.decay"):  # fmt: skip
        assert key in keys
