"""Configuration layers (defaults, file, environment, flags) and the pure helpers behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from campaign.simulator.config import SimConfig, load_config
from campaign.simulator.control import SimControl
from campaign.simulator.numbers import number_key
from campaign.simulator.outcomes import Outcome
from campaign.simulator.payloads import format_time
from tests.simulator.harness import start_simulator, stop_process


def test_defaults_are_a_realistic_mix_that_sums_to_one() -> None:
    config = SimConfig()
    assert config.mix[Outcome.HUMAN] == 0.45
    assert config.mix[Outcome.MACHINE] == 0.15
    assert sum(config.mix.values()) == pytest.approx(1.0)
    assert (config.ring_s.min, config.ring_s.max, config.talk_s.min, config.talk_s.max) == (
        2,
        20,
        5,
        60,
    )


def test_file_then_environment_then_flags_each_override_the_last(tmp_path: Path) -> None:
    file = tmp_path / "sim.json"
    file.write_text(json.dumps({"time_scale": 0.5, "dialect": "seed", "seed": 1}))
    env = {"SIM_CONFIG": json.dumps({"dialect": "newer", "faults": {"lose_final": {"rate": 1}}})}
    config = load_config(file, env, seed=9)
    assert (config.time_scale, config.dialect, config.seed) == (0.5, "newer", 9)
    assert config.faults.lose_final.rate == 1
    assert config.faults.duplicate.delay_ms == 5.0


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "sim.json"
    file.write_text(json.dumps({"conversation_id": "sid"}))
    assert load_config(None, {"SIM_CONFIG_FILE": str(file)}).conversation_id == "sid"


def test_script_steps_may_be_bare_outcome_names() -> None:
    config = SimConfig.model_validate({"scripts": {"by_number": {"tel:+1 555": "busy"}}})
    assert config.scripts.by_number["1555"][0].outcome is Outcome.BUSY


def test_a_mix_with_no_weight_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        SimConfig.model_validate({"mix": {"busy": 0}})


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ("tel:+91 12345-67890", "911234567890"),
        ("tel:911234567890", "911234567890"),
        ("sip:1234567890@1.23.45.67:1234", "1234567890"),
        ("sip:Alice@example.com", "alice"),
        ("486", "486"),
    ],
)
def test_targets_reduce_to_the_digits_they_dial(target: str, key: str) -> None:
    assert number_key(target) == key


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (1683545569, "5/8/2023,11:32:49AM"),  # the vendor page's own sample
        (1683504000, "5/8/2023,12:00:00AM"),
        (1683547200, "5/8/2023,12:00:00PM"),
        (1683590399, "5/8/2023,11:59:59PM"),
    ],
)
def test_times_use_the_vendor_format(epoch: float, text: str) -> None:
    assert format_time(epoch) == text


def test_process_entry_takes_a_config_file_and_flags(tmp_path: Path) -> None:
    file = tmp_path / "sim.json"
    file.write_text(json.dumps({"dialect": "newer", "time_scale": 0.5}))
    args = ("--config", str(file), "--time-scale", "0.002", "--seed", "42")
    proc, url = start_simulator(tmp_path / "sim.log", *args)
    try:
        with SimControl(url) as control:
            config = control.config()
    finally:
        stop_process(proc)
    assert (config.dialect, config.time_scale, config.seed) == ("newer", 0.002, 42)
