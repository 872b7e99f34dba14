# Per-kit sampling and event detection. make_kit() builds the kit of a node
# from the hardware dict the app makes out of the board file (see
# firmware/app/hw.py): only the chosen kit's module is imported.
#
# A kit object offers:
#   start()          create the drivers and check the chips' identities; a
#                    faulty part becomes a health fault (never an exception)
#                    and is retried at every later sample
#   sample()         one periodic reading set into the recorder, detection on
#                    the slow signals (alarms through recorder.alarm)
#   async watch()    mains kits: runs forever (elevator trips, doors, alarm
#                    button); battery kits return at once
#   on_wake(signal)  a battery node woke from deep sleep because of an alarm
#                    input (gpio name such as "reed", or its signal name such
#                    as "valve_open"); handles it before sample()
#   state()/restore(d)  detector state that must survive deep sleep (JSON)
# The order the app uses - start(), restore(), on_wake(), sample() - is fine;
# so is restore() before start(): the install baseline of the tilt is taken
# at the first accelerometer window when restore() gave none.


def make_kit(name, hw, thresholds, recorder, health):
    if name == "elevator":
        from firmware.app.kits.elevator import Elevator

        return Elevator(hw, thresholds, recorder, health)
    if name == "hydrant":
        from firmware.app.kits.hydrant import Hydrant

        return Hydrant(hw, thresholds, recorder, health)
    if name == "manhole":
        from firmware.app.kits.manhole import Manhole

        return Manhole(hw, thresholds, recorder, health)
    raise ValueError("unknown kit %r" % (name,))
