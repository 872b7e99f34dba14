"""A battery node's power behaviour, end to end: hardware.virtual_board.prepare() provisions
the firmware (compiled by mpy-cross), the Supervisor runs the real MicroPython on the
simulated chips (each deep sleep ends the process; the board wakes it at the sleep's end or
when an input the firmware armed reaches its level), the real edge agent takes the frames,
a private Mosquitto carries what the platform receives.

- wakes between samples: the ADXL345's activity interrupt (a car hitting a hydrant), and a
  valve reed that wakes the node once when it opens and once when it shuts, never while it
  stays open;
- the manhole's gas module warms up while the node sleeps, its load switch held on; the
  level sensor has its own switch;
- wake inputs the board cannot arm are a health fault; a wake to another firmware's RTC
  record and kit state is a wake like after a power cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import cbor2
import pytest
from edge_helpers import Broker, Message
from fw_helpers import EdgeNode, edge_node, with_entry

from hardware import kits, scenarios
from hardware.flash.tool import FlashImage
from hardware.hal import codes
from hardware.hal.supervisor import Boot
from hardware.sim.world import World
from hardware.virtual_board import DEFAULT_BOARD

pytestmark = pytest.mark.micropython


class Node:
    """A started virtual node, its edge agent and a subscriber on the platform."""

    def __init__(self, edge: EdgeNode, node_id: str) -> None:
        self.edge = edge
        self.node_id = node_id
        self.run = edge.run
        self.sub = edge.sub

    async def until_asleep_after(self, world_s: float, real_s: float) -> list[Boot]:
        """Runs the board until a deep sleep after world_s scenario seconds, then stops
        it; its boots."""
        run = self.run
        assert run is not None
        boots = await run.until_asleep_after(world_s, real_s)
        run.stop()
        await asyncio.sleep(0.5)  # the last frames reach the platform
        return boots

    def started_s(self, boot: Boot) -> float:
        """Scenario seconds at which a boot started."""
        assert self.run is not None
        return boot.epoch - self.run.sup.origin

    def alarms(self) -> list[list[dict[Any, Any]]]:
        """The alarm packs on the platform, one per idempotency key, in the order sent."""
        assert self.sub is not None
        return _unique(self.sub.where(lambda m: "/alarms/" in m.topic))

    def readings(self, name: str) -> list[Decimal]:
        """Every value of a reading on the platform (batches in the order sent)."""
        assert self.sub is not None
        packs = _unique(self.sub.matching(f"/{self.node_id}/readings"))
        return [Decimal(r[2]) for p in packs for r in p if r[0] == name and 2 in r]


@contextlib.asynccontextmanager
async def power_node(
    tmp_path: Path,
    broker: Broker,
    node_id: str,
    *,
    kit: str,
    scenario: str,
    speed: float,
    gpio: dict[str, int] | None = None,
    **extra: Any,
) -> AsyncIterator[Node]:
    """Provisions and starts the node; ``gpio`` moves roles of its board file to other
    pins (the simulated parts follow the board file on the flash)."""
    async with edge_node(
        tmp_path, node_id, broker=broker, kit=kit, scenario=scenario, speed=speed, **extra
    ) as edge:
        if gpio:
            flash = FlashImage(edge.node.image)
            bfile = json.loads(flash.read_file("cfg/board.json"))
            for role, pin in gpio.items():
                bfile["gpio"][role]["pin"] = pin
            bfile["wake"] = sorted(g["pin"] for g in bfile["gpio"].values() if g["wake"])
            flash.write_files({"cfg/board.json": json.dumps(bfile)})
        edge.start(timeout=180)
        yield Node(edge, node_id)


def _unique(messages: list[Message]) -> list[list[dict[Any, Any]]]:
    packs: dict[str, list[dict[Any, Any]]] = {}
    for m in messages:
        records = m.records()
        packs.setdefault(records[0]["ik"], records)
    return [packs[k] for k in sorted(packs, key=lambda ik: int(ik.rsplit("/", 1)[1]))]


def sampled_shock_peak_mg(
    scenario: dict[str, Any], start_ms: int, length_ms: int, period_ms: int
) -> tuple[int, int]:
    """The lowest and highest peak a sampler with ``period_ms`` between samples can see
    of the shock in the scenario's world, over every sampling phase, as the firmware
    measures it: the largest deviation (vector magnitude, mg) from the resting vector
    before the shock. The ADXL345 watch samples at 100 Hz from whenever it was armed, so
    which instants of the shock's 24 ms wave it catches depends on the node's timing."""
    world = World(scenario)
    rest = world.accel(start_ms - 1000)

    def deviation(t: int) -> float:
        return math.dist(world.accel(t), rest)

    peaks = [
        max(deviation(t) for t in range(start_ms + phase, start_ms + length_ms, period_ms))
        for phase in range(period_ms)
    ]
    # what the node reads differs from the world by the ADXL345's resolution (3.9 mg
    # per LSB) and by the noise of each axis, both on the sample and on the baseline
    noise = max(scenario["signals"][f"accel_{a}"].get("noise", 0) for a in "xyz")
    slack = 2 * math.sqrt(3) * (3.9 + noise)
    return int(min(peaks) - slack), int(max(peaks) + slack) + 1


def _pin_wakes(boots: list[Boot]) -> list[Boot]:
    return [b for b in boots if b.wake_reason == codes.PIN_WAKE]


async def test_a_car_hitting_the_hydrant_between_wakes_raises_the_alarm(
    tmp_path: Path, broker: Broker
) -> None:
    """hydrant.impact with the firmware's own 15-minute sample period: the car hits at
    5 min, between the power-on sample and the next timer wake. The ADXL345 watches for
    activity while the node sleeps (armed by the firmware before each deep sleep): its
    INT1 wakes the node at the shock, the samples its FIFO kept around the event give
    the impact's peak (7.9-10 g from the baseline, as the 100 Hz samples fall on the
    shock's 24 ms wave) and a window after it the lasting 12 degree tilt; both alarms
    reach the platform in that wake, long before the next timer wake."""
    scenario = scenarios.get("hydrant.impact")
    exp = scenario["expect"]
    async with power_node(
        tmp_path, broker, "ja-hyd-000011", kit="hydrant", scenario="hydrant.impact", speed=50
    ) as node:
        boots = await node.until_asleep_after(exp["impact_ms"] / 1000 + 1, 120)
        [woke] = _pin_wakes(boots)
        assert boots[-1] is woke  # the next timer wake comes at about 15 min
        assert abs(node.started_s(woke) - exp["impact_ms"] / 1000) < 0.5
        alarms = node.alarms()
        assert [a[0]["alarm"] for a in alarms] == ["impact", "tilt"]
        impact, tilt = ({r[0]: r for r in a} for a in alarms)
        assert alarms[0][0]["severity"] == 2
        low, high = sampled_shock_peak_mg(scenario, exp["impact_ms"], 200, 10)
        peak = Decimal(impact["accel_peak"][2])  # m/s2
        assert Decimal(low) * Decimal("0.0098") <= peak <= Decimal(high) * Decimal("0.0099")
        assert abs(Decimal(tilt["tilt"][2]) - exp["tilt_deg"]) < 1


async def test_a_valve_reed_wakes_the_node_when_it_opens_and_when_it_shuts(
    tmp_path: Path, broker: Broker
) -> None:
    """hydrant.illegal_opening (valve open from 2 to 22 min): the node arms the reed on
    the level opposite to its present one before each deep sleep, so the opening wakes
    it once (illegal_opening goes out at once), the 20 minutes the valve stays open
    wake it never, and the shutting wakes it once more, which ends the episode
    (illegal_opening_alarm = false, in the batch of the next uplink, at 30 min)."""
    exp = scenarios.get("hydrant.illegal_opening")["expect"]
    async with power_node(
        tmp_path,
        broker,
        "ja-hyd-000012",
        kit="hydrant",
        scenario="hydrant.illegal_opening",
        speed=200,
    ) as node:
        boots = await node.until_asleep_after(1801, 120)
        starts = [node.started_s(b) for b in _pin_wakes(boots)]
        assert len(starts) == 2, starts
        assert abs(starts[0] - exp["open_ms"] / 1000) < 0.5
        assert abs(starts[1] - exp["close_ms"] / 1000) < 0.5
        assert [b.wake_reason for b in boots[1:]].count(codes.TIMER_WAKE) == 2  # 15, 30 min
        assert [a[0]["alarm"] for a in node.alarms()] == ["illegal_opening"]
        assert node.readings("illegal_opening_alarm") == []  # a boolean: "vb", not "v"
        assert node.sub is not None
        ends = [
            r
            for p in _unique(node.sub.matching(f"/{node.node_id}/readings"))
            for r in p
            if r[0] == "illegal_opening_alarm"
        ]
        assert len(ends) == 1 and ends[0][4] is False


async def test_the_gas_module_warms_up_while_the_manhole_node_sleeps(
    tmp_path: Path, broker: Broker
) -> None:
    """manhole.idle sampled every minute (gas every second sample, the default): the
    sample that measures gas switches the ZE03 on, holds its switch through a deep sleep
    of the rest of the 30 s warm-up and reads it at the wake that ends it; the level
    sensor's own switch is on only for its reading. The simulated module reads low
    until it has warmed up, so readings of the scenario's 0.3 ppm prove the switch
    stayed on through the sleep; the node is awake for a small part of the warm-up."""
    async with power_node(
        tmp_path,
        broker,
        "ja-man-000011",
        kit="manhole",
        scenario="manhole.idle",
        speed=20,
        sample_s=60,
    ) as node:
        boots = await node.until_asleep_after(190, 150)
        board = kits.board_file(DEFAULT_BOARD, "manhole")["gpio"]
        gas_pin, level_pin = board["gas_power"]["pin"], board["level_power"]["pin"]
        held = [[p for p, _level in b.exit_record.get("held") or ()] for b in boots]
        gas_on = [i for i, pins in enumerate(held[:-1]) if pins == [gas_pin]]
        assert len(gas_on) >= 2 and all(level_pin not in pins for pins in held), held
        for i in gas_on:
            sample, ready = boots[i], boots[i + 1]
            assert ready.reset_cause == codes.DEEPSLEEP_RESET
            assert ready.wake_reason == codes.TIMER_WAKE
            # the warm-up (30 s) begins during the sample's boot and ends with the wake
            awake = float(str(sample.exit_record["world_ms"])) / 1000 - sample.epoch
            assert 30 <= node.started_s(ready) - node.started_s(sample) <= 30 + awake
            slept = int(str(sample.exit_record["sleep_ms"]))
            assert slept >= 20000  # most of the warm-up asleep
        h2s = node.readings("h2s")
        # a volume fraction: 0.2 to 0.4 ppm
        assert len(h2s) >= 2 and all(Decimal("2E-7") <= v <= Decimal("4E-7") for v in h2s), h2s
        assert len(node.readings("level")) >= 3


async def test_wake_inputs_the_board_cannot_arm_are_a_health_fault(
    tmp_path: Path, broker: Broker
) -> None:
    """A hydrant whose board file puts the valve reed and the accelerometer's INT1 on
    GPIO9 and GPIO18, outside the ESP32-C3's RTC domain: esp32.wake_on_gpio refuses
    them. The node still deep-sleeps and keeps its timer wakes, and the next run
    reports it: the status the platform receives carries the health fault
    "wake:not armed: accel_int reed", so the fleet sees that this node's alarm inputs
    are noticed only at timer wakes."""
    async with power_node(
        tmp_path,
        broker,
        "ja-hyd-000012",
        kit="hydrant",
        scenario="hydrant.idle",
        speed=200,
        gpio={"reed": 9, "accel_int": 18},
    ) as node:
        boots = await node.until_asleep_after(960, 120)
        assert len(boots) >= 2 and all(b.wake_reason != codes.PIN_WAKE for b in boots)
        assert node.sub is not None
        got = await node.sub.wait(
            lambda m: m.topic.endswith(f"/{node.node_id}/status") and b"not armed" in m.payload,
            within=10,
        )
        status = cbor2.loads(got[-1].payload)
        assert "wake:not armed: accel_int reed" in status["health"]["faults"], status


async def test_a_wake_to_another_firmwares_record_and_kit_state(
    tmp_path: Path, broker: Broker
) -> None:
    """A battery node that wakes from deep sleep to an RTC record and a kit state it
    cannot use (another firmware version's, after an update: fields of the wrong types,
    a wake count that is not a count) ignores them. It samples, as after a power cut,
    and its cycles go on ending in deep sleep, without a traceback and without a
    failed boot for the loader to count."""
    async with edge_node(
        tmp_path, "ja-hyd-000013", broker=broker, kit="hydrant", scenario="hydrant.idle", speed=200
    ) as edge:
        config = with_entry(edge.node.config_path, "foreign_state_entry", "foreign.json")
        run = edge.start(timeout=120, config=config)
        node = Node(edge, "ja-hyd-000013")
        boots = await node.until_asleep_after(900 + 60, 120)
        output = run.output()
        assert "@@FOREIGN@@ written" in boots[0].output
        assert len(boots) >= 3 and all(b.exit_code == codes.EXIT_DEEPSLEEP for b in boots)
        assert "Traceback" not in output, output[-3000:]
        assert edge.agent.ingest.stored[0] >= 1  # the woken node sampled and sent
        boot_state = json.loads(FlashImage(edge.node.image).read_file("boot.json"))
        assert boot_state["failures"] == 0
