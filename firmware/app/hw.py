# Builds the hardware objects a kit uses from the board file (cfg/board.json):
# the node learns its pins from that file, never from sys.platform. Returns
# the dict the kits take (see firmware/app/kits): i2c, onewire, uart (name ->
# UART), uart_select (re-routes a shared UART), pins (signal -> Pin), adc
# (name -> ADC), outputs (name -> Pin), board.

import machine


def _pull(name):
    if name == "up":
        return machine.Pin.PULL_UP
    if name == "down":
        return machine.Pin.PULL_DOWN
    return None


def build(board):
    hw = {"board": board, "pins": {}, "outputs": {}, "adc": {}, "uart": {}}
    i2c = board.get("i2c")
    if i2c:
        hw["i2c"] = machine.I2C(
            i2c["id"], scl=machine.Pin(i2c["scl"]), sda=machine.Pin(i2c["sda"]), freq=i2c["freq"]
        )
    else:
        hw["i2c"] = None
    hw["onewire"] = None
    if board.get("onewire") is not None:
        import onewire

        hw["onewire"] = onewire.OneWire(machine.Pin(board["onewire"]))
    for name, gpio in board.get("gpio", {}).items():
        if gpio["dir"] == "out":
            # off (an active-low load switch idles high); a pad held through
            # deep sleep keeps its level until the kit lets it go
            idle = 1 - gpio.get("active", 1)
            hw["outputs"][name] = machine.Pin(gpio["pin"], machine.Pin.OUT, value=idle)
            continue
        pull = _pull(gpio.get("pull"))
        if pull is None:
            pin = machine.Pin(gpio["pin"], machine.Pin.IN)
        else:
            pin = machine.Pin(gpio["pin"], machine.Pin.IN, pull)
        hw["pins"][gpio.get("signal") or name] = pin
    for name, adc in board.get("adc", {}).items():
        hw["adc"][name] = machine.ADC(machine.Pin(adc["pin"]))
    uarts = board.get("uart", {})
    opened = {}
    for name, spec in uarts.items():
        if name == "link":
            continue  # the RS-485 link to the edge belongs to the link, not a kit
        uid = spec["id"]
        if uid not in opened:
            kwargs = {"baudrate": spec["baud"], "timeout": 0}
            if spec.get("tx") is not None:
                kwargs["tx"] = spec["tx"]
            if spec.get("rx") is not None:
                kwargs["rx"] = spec["rx"]
            opened[uid] = machine.UART(uid, **kwargs)
        hw["uart"][name] = opened[uid]
    current = {}

    # A shared UART serves one sensor at a time: point its pins at `name`.
    def uart_select(name):
        spec = uarts[name]
        uid = spec["id"]
        if current.get(uid) == name or not spec.get("shared"):
            current[uid] = name
            return hw["uart"][name]
        kwargs = {"baudrate": spec["baud"], "timeout": 0}
        if spec.get("tx") is not None:
            kwargs["tx"] = spec["tx"]
        if spec.get("rx") is not None:
            kwargs["rx"] = spec["rx"]
        opened[uid].init(**kwargs)
        current[uid] = name
        return opened[uid]

    hw["uart_select"] = uart_select
    return hw


# Battery voltage in mV from the board's divided ADC input, -1 when absent.
def battery_mv(hw):
    adc = hw["adc"].get("battery")
    if adc is None:
        return -1
    spec = hw["board"]["adc"]["battery"]
    return adc.read_uv() * spec.get("divider", 1) // 1000
