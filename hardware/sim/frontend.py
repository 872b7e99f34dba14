# Analog front ends: how a physical quantity of the world becomes the
# voltage at an ADC input. One source of truth for the kits (hardware/kits.py
# quotes these numbers) and the simulators (world.voltage uses them).
#
# "pressure"      4-20 mA pressure transducer, 0..1600 kPa gauge, loop
#                 current through a 150 ohm shunt to GND: 0.60 V at 0 kPa,
#                 3.00 V at 1600 kPa. The loop current is clipped to the
#                 NAMUR NE 43 signal range 3.8..20.5 mA (assumption for an
#                 over/under-range transducer).
# "motor_current" split-core current transducer, 0..50 A AC in -> 0..5 V DC
#                 out (average-responding), through a 10k/10k divider:
#                 50 uV per mA, 2.5 V at 50 A; the output is clipped at 52 A.
# "battery"       cell voltage through a 1:2 divider (two equal resistors)
#                 to an MCU ADC pin: half the cell voltage.

PRESSURE_SHUNT_OHM = 150
PRESSURE_RANGE_KPA = 1600
LOOP_ZERO_UA = 4000
LOOP_SPAN_UA = 16000
LOOP_MIN_UA = 3800
LOOP_MAX_UA = 20500

CT_UV_PER_MA = 50
CT_CLIP_MA = 52000

BATTERY_DIVIDER = 2

CHANNELS = ("pressure", "motor_current", "battery")


def loop_ua(kpa: int) -> int:
    # Loop current of the transducer (microamps) for a gauge pressure.
    ua = LOOP_ZERO_UA + kpa * LOOP_SPAN_UA // PRESSURE_RANGE_KPA
    if ua < LOOP_MIN_UA:
        return LOOP_MIN_UA
    if ua > LOOP_MAX_UA:
        return LOOP_MAX_UA
    return ua


def pressure_uv(kpa: int) -> int:
    return loop_ua(kpa) * PRESSURE_SHUNT_OHM


def motor_current_uv(ma: int) -> int:
    ma = abs(ma)
    return min(ma, CT_CLIP_MA) * CT_UV_PER_MA


def battery_uv(mv: int) -> int:
    return mv * 1000 // BATTERY_DIVIDER


def kpa_from_uv(uv: int) -> int:
    # The inverse a driver applies: shunt voltage back to gauge pressure.
    ua = uv // PRESSURE_SHUNT_OHM
    return (ua - LOOP_ZERO_UA) * PRESSURE_RANGE_KPA // LOOP_SPAN_UA
