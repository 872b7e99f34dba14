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
#   on_wake(signal)  a battery node woke from deep sleep because an alarm
#                    input changed (gpio name such as "reed", or its signal
#                    name such as "valve_open"); handles it before sample()
#   warming()        ms until a part warming up with its switch held (the
#                    manhole's gas module) can be read by resume(), -1 if none;
#                    `held` says whether the switch stays on in deep sleep
#   warm(ms)         a warm-up held through the last deep sleep ends in ms
#   resume()         reads the part that warmed up
#   sleep()          the parts go to sleep with the node (the accelerometer
#                    watches for activity, which wakes it)
#   state()/restore(d)  detector state that must survive deep sleep (JSON)
# The order the app uses (firmware/app/duty.py) - restore(), start(),
# warm(), on_wake(), resume(), sample(), resume(), sleep() - is fine; so is
# start() before restore() (mains kits): the install baseline of the tilt is
# taken at the first accelerometer window when restore() gave none.


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
