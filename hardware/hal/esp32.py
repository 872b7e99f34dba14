# mypy: ignore-errors
# An `esp32` module for the MicroPython unix port: what the ESP32 port's module
# offers for deep-sleep wakes and pad holds, on a simulated ESP32-C3.
#
# Like machine.py the boot script imports it as the top-level module `esp32`
# (this directory first on sys.path), and only for a board whose HAL config
# says "deep_wake": "esp32_gpio": on any other board the firmware's
# `import esp32` fails, as on an RP2.
#
# wake_on_gpio(pins, level) follows MicroPython's documentation (esp32 module, added
# by micropython/micropython#17518): pins is None or a tuple/list of Pin objects,
# level WAKEUP_ALL_LOW or WAKEUP_ANY_HIGH, one level for every pin; each call
# replaces the previous one. On the C3 (ESP-IDF's per-pin GPIO wake) any armed pin
# reaching the level wakes the chip, also for WAKEUP_ALL_LOW. Only the RTC-domain
# pins (the HAL config's "deep_wake_pins": GPIO0-5 on a C3) can be armed.

import machine

WAKEUP_ALL_LOW = False
WAKEUP_ANY_HIGH = True


def wake_on_gpio(pins, level):
    armed = {}
    if pins is not None:
        if not isinstance(pins, (tuple, list)):
            raise TypeError("pins must be None or a tuple/list of Pin objects")
        for pin in pins:
            if not isinstance(pin, machine.Pin):
                raise TypeError("pins must be Pin objects, got %r" % (pin,))
            pin_id = pin._id
            machine._check_deep_wake_pin(pin_id)
            armed[pin_id] = 1 if level else 0
    machine.gpio_wake.clear()
    machine.gpio_wake.update(armed)


def gpio_deep_sleep_hold(enable):
    machine.deep_sleep_hold[0] = bool(enable)
