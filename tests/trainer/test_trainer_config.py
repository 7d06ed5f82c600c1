"""config.py: presets, YAML and flag overrides, validation."""

import pytest

from trainer import config


def test_presets_build():
    assert config.make().job == "xdiag-demo"
    tiny = config.make("tiny")
    assert tiny.d_model < config.make("demo").d_model
    with pytest.raises(ValueError, match="unknown preset"):
        config.make("huge")


def test_yaml_then_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("d_model: 96\nsteps: 5\ndata_weights: [0.5, 0.5]\n"
                    "data_sources: [markov, count]\n")
    cfg, args = config.from_args(["--config", str(path), "--steps", "9", "--no-router-renormalize",
                                  "--data-weights", "0.25,0.75", "--resume"])
    assert cfg.d_model == 96 and cfg.steps == 9
    assert cfg.router_renormalize is False
    assert cfg.data_weights == (0.25, 0.75) and cfg.data_sources == ("markov", "count")
    assert args.resume


def test_forever_means_zero_steps():
    cfg, _ = config.from_args(["--forever", "--sleep-ms", "50"])
    assert cfg.steps == 0 and cfg.sleep_ms == 50


def test_validation_messages():
    with pytest.raises(ValueError, match="unknown config fields"):
        config.make(d_modle=3)
    with pytest.raises(ValueError, match="same length"):
        config.make(data_weights=(1.0,))
    with pytest.raises(ValueError, match="num_experts_per_tok"):
        config.make(num_experts_per_tok=99)
    with pytest.raises(ValueError, match="at most one mesh axis"):
        config.make(mesh_data=-1, mesh_fsdp=-1)
    with pytest.raises(SystemExit):
        config.from_args(["--d-model", "abc"])
