# The entry of a virtual board whose battery node wakes to what another firmware
# version left (tests/firmware/test_fw_power.py): at power-on it writes a foreign
# RTC record (fields of the wrong types) and a kit state whose wake count is not a
# count, then deep-sleeps for a second; at every later start it runs the node as
# the board would (import main -> loader.boot()).
import json
import os

import machine

if machine.reset_cause() != machine.DEEPSLEEP_RESET:
    machine.RTC().memory(
        json.dumps({"due": "soon", "warm": [1], "lv": 3, "na": 5, "v": 99}).encode()
    )
    try:
        os.mkdir("state")
    except OSError:
        pass
    with open("state/kit.json", "w") as f:
        f.write(json.dumps({"format": 1, "wakes": "many", "kit": [1, 2]}))
    print("@@FOREIGN@@ written")
    machine.deepsleep(1000)
else:
    __import__("main")
