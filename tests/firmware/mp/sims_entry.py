# The simulators alone, in the same process setup as a virtual node
# (hardware/hal/boot.py, the HAL, simulated time, the setup hook that builds
# the scenario's world and attaches the kit's chips), driven through the
# machine API the way the firmware's drivers read them, and the simulated
# flash chip written through littlefs the way the queue writes it, for SIM_S
# simulated seconds. Prints "@@HEAP@@ " + {"base": live heap after setup, "peak":
# highest live heap while the chips were read, "heap": total}.
import gc
import json
import os
import sys
import time

import machine

SIM_S = 600


def main():
    gc.collect()
    base = gc.mem_alloc()
    with open("cfg/board.json") as f:
        board = json.loads(f.read())
    peak = base
    i2c = None
    if board.get("i2c"):
        spec = board["i2c"]
        i2c = machine.I2C(spec["id"], scl=machine.Pin(spec["scl"]), sda=machine.Pin(spec["sda"]))
    uarts = [machine.UART(u["id"], baudrate=u["baud"]) for u in board.get("uart", {}).values()]
    adcs = [machine.ADC(machine.Pin(a["pin"])) for a in board.get("adc", {}).values()]
    pins = [machine.Pin(g["pin"], machine.Pin.IN) for g in board.get("gpio", {}).values()]
    buf = bytearray(6)
    word = bytearray(2)
    item = bytearray(600)
    parts = board.get("parts", {}).values()
    start = time.ticks_ms()
    n = 0
    while time.ticks_diff(time.ticks_ms(), start) < SIM_S * 1000:
        n += 1
        if n % 10 == 0:
            with open("sims.tmp", "wb") as f:
                f.write(item)
            os.rename("sims.tmp", "sims.bin")
        for part in parts:
            if part.get("bus") != "i2c" or i2c is None:
                continue
            try:
                if part["chip"] == "ADXL345":
                    i2c.readfrom_mem_into(part["address"], 0x32, buf)
                elif part["chip"] == "ADS1115":
                    i2c.writeto_mem(part["address"], 0x01, b"\xc3\x83")
                    i2c.readfrom_mem_into(part["address"], 0x00, word)
            except OSError:
                pass
        for u in uarts:
            u.read()
        for a in adcs:
            a.read_uv()
        for p in pins:
            p.value()
        time.sleep_ms(20)
        gc.collect()
        peak = max(peak, gc.mem_alloc())
    gc.collect()
    record = {"base": base, "peak": peak, "heap": gc.mem_alloc() + gc.mem_free()}
    sys.stdout.write("@@HEAP@@ " + json.dumps(record) + "\n")


main()
