"""xorshift32, the World evaluator and the analog front ends, in both runtimes."""

from __future__ import annotations

from typing import Any


def test_xorshift(hw: dict[str, Any]) -> None:
    """Proves xorshift32 (13, 17, 5) gives Marsaglia's sequence from seed 1,
    replaces seed 0, spreads signed() over the whole [-a, a] range, and that
    the stateless mix() hash is defined for large and negative inputs."""
    r = hw["xorshift"]
    assert r["seq"][:3] == [270369, 67634689, 2647435461]
    assert r["zero_seed_state"] == 2463534242
    assert (r["spread_min"], r["spread_max"]) == (-2, 2)
    assert all(0 <= v < 2**32 for v in r["mix"])
    assert len(set(r["mix"])) == 5


def test_world_curves(hw: dict[str, Any]) -> None:
    """Proves the scenario signal model: piecewise-linear points with steps,
    repeating segments, digital signals and their edges, sine waves with and
    without linear decay, clamps, successive segments, exact integrals, noise
    bounded by its amplitude and a pure function of time, and defaults."""
    r = hw["world_math"]
    assert r["sin"] == [0, 23170, 32767, 23170, 0, -32767, 0, -32767]
    assert r["pwl"] == [0, 0, 500, 990, 500, 500, 500]
    assert r["ramp"] == [0, 333, 1000, 1000]
    assert r["rep"] == [0, 0, 50, 100, 2, 50, 100]
    assert r["dig"] == [0, 0, 1, 1, 0]
    assert r["dig_edges"] == [[10, 1], [20, 0]]
    assert r["digrep_edges"] == [[5, 1], [10, 0], [15, 1], [20, 0], [25, 1], [30, 0]]
    assert r["next_edge_none"] is None
    assert r["wave"] == [100, 150, 100, 50, 100]
    assert r["decay"] == [95, 75, 55, 35, 15, 0]
    assert (r["noise_min"], r["noise_max"]) == (-7, 7)
    assert r["noise_again"][0] == r["noise_again"][1]
    assert r["clamped"] == [-10, 0, 20]
    assert r["seg2"] == [10, 10, 20, 30, 40]
    assert r["integral_ramp"] == [0, 125000, 500000, 1500000]
    assert r["integral_rep"] == 3 * 5000
    assert r["integral_seg2"] == 500 * 10 + 100 * 30 + 100 * 40
    assert r["default_accel"] == [0, 0, 1000]
    assert r["default_temperature"] == 20000


def test_analog_front_ends(hw: dict[str, Any]) -> None:
    """Proves the wiring maths: 4-20 mA over 150 ohm (0.6 V at 0 kPa, 3.0 V at
    1600 kPa, clipped to 3.8..20.5 mA), the inverse a driver applies, the
    current transducer at 50 uV/mA clipped at 52 A, the 1:2 battery divider,
    and an unknown channel rejected."""
    r = hw["frontend"]
    assert r["pressure_uv"] == [600000, 1125000, 3000000, 3075000, 570000]
    assert r["kpa_back"] == 350
    assert r["motor_uv"] == 800000
    assert r["motor_clip_uv"] == 2600000
    assert r["battery_uv"] == 1800000
    assert r["unknown"] == "ValueError"
