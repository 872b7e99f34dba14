# A stand-in app slot for the loader tests: written into a/, b/ and base/ as
# firmware/app/main.py of a flash image (next to the real loader at the
# root). It reports what the loader started and then does what plan.json on
# the flash says for this boot number: "+"-joined steps out of confirm,
# trial_b (loader.set_trial("b")), crash (an exception), sleep (deep sleep),
# reset (machine.reset()), hang (a watchdog expiry) and stop (return).
import json
import time

import loader
import machine


def _plan():
    try:
        with open("plan.json") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {}


def run(safe=False, slot="a"):
    state = loader.read_state()
    action = _plan().get(str(state["boots"]), "stop")
    record = {
        "slot": slot,
        "safe": safe,
        "cause": machine.reset_cause(),
        "state": state,
        "action": action,
        "retry_s": loader.safe_retry_s(state),
    }
    print("@@BOOT@@ " + json.dumps(record))
    for step in action.split("+"):
        if step == "confirm":
            loader.confirm()
        elif step == "trial_b":
            loader.set_trial("b")
        elif step == "crash":
            raise RuntimeError("the app crashed")
        elif step == "sleep":
            machine.deepsleep(1000)
        elif step == "reset":
            machine.reset()
        elif step == "hang":
            machine.WDT(timeout=2000)
            while True:
                time.sleep(1)
