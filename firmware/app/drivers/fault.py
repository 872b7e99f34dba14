# A sensor that is missing, answers garbage or fails its checksum. The sampler
# records it as a health fault (part + reason) and keeps the node running.


class SensorFault(Exception):
    def __init__(self, part, reason):
        super().__init__("%s: %s" % (part, reason))
        self.part = part
        self.reason = reason


# Runs an I2C transfer; turns the OSError of a NACK or a stuck bus into a fault.
def bus_error(part, e):
    code = e.args[0] if e.args else 0
    if code == 19:
        return SensorFault(part, "no answer on the bus (NACK)")
    if code == 110:
        return SensorFault(part, "bus timeout (stuck bus)")
    return SensorFault(part, "bus error %d" % code)
