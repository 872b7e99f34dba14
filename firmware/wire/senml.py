# SenML packs (RFC 8428) in CBOR with the integer labels of RFC 8428 section 6.
#
# A node never sends a float: each quantity has a fixed unit and a fixed decimal
# exponent (QUANTITIES below). A value with exponent 0 travels as a CBOR integer;
# any other as a decimal fraction (CBOR tag 4, [exponent, mantissa]), which
# RFC 8428 section 6 allows for numbers. Times are a base time in whole seconds
# (bt) plus offsets: whole seconds as integers, finer offsets in milliseconds
# as the decimal fraction [-3, ms].

try:
    from micropython import const
except ImportError:

    def const(x: int) -> int:  # type: ignore[misc]
        return x


from firmware.wire.cbor import Encoder
from firmware.wire.errors import ProtocolError

# RFC 8428 section 6, table 6: CBOR labels.
BVER = const(-1)
BN = const(-2)
BT = const(-3)
BU = const(-4)
BV = const(-5)
BS = const(-6)
N = const(0)
U = const(1)
V = const(2)
VS = const(3)
VB = const(4)
S = const(5)
T = const(6)
UT = const(7)
VD = const(8)

LABELS = (BVER, BN, BT, BU, BV, BS, N, U, V, VS, VB, S, T, UT, VD)
_LABEL_SET = set(LABELS)

# A pack holds at most this many records (bounds the node's buffer and the
# edge's work per message).
MAX_RECORDS = const(256)

# name -> (unit, decimal exponent). The value on the wire is mantissa * 10**exp
# of the unit. Units are RFC 8428 primary units, "deg" from RFC 8798; a quantity
# without a unit (a count) has unit "".
QUANTITIES = {
    "temp": ("Cel", -2),  # temperature, 0.01 degC
    "pressure": ("Pa", 0),  # water pressure, 1 Pa
    "pressure_min": ("Pa", 0),  # lowest pressure of a burst window
    "pressure_max": ("Pa", 0),  # highest pressure of a burst window
    "pressure_swing": ("Pa", 0),  # high-passed peak-to-peak swing of a burst
    "level": ("m", -3),  # water level above the manhole floor, 1 mm
    "distance": ("m", -3),  # ultrasonic distance, 1 mm
    "h2s": ("/", -8),  # H2S volume fraction, 0.01 ppm
    "tilt": ("deg", -2),  # tilt from the install baseline, 0.01 degree
    "accel_rms": ("m/s2", -3),  # vibration RMS, 1 mm/s2
    "accel_peak": ("m/s2", -3),  # vibration peak, 1 mm/s2
    "accel_x": ("m/s2", -3),  # raw axis samples in high-rate windows
    "accel_y": ("m/s2", -3),
    "accel_z": ("m/s2", -3),
    "current": ("A", -3),  # motor current, 1 mA
    "battery": ("V", -3),  # battery voltage, 1 mV
    "rssi": ("dBW", 0),  # radio signal strength, 1 dBW
    "trips": ("", 0),  # elevator trips counted since the previous reading
    "door_cycles": ("", 0),  # door open/close cycles since the previous reading
    "door_open": ("", 0),  # boolean (vb): door contact open
    "cover_open": ("", 0),  # boolean (vb): manhole cover displaced
    "valve_open": ("", 0),  # boolean (vb): hydrant valve / tamper reed open
}


# Builds one SenML pack into a caller-owned buffer without allocating per record.
# The records start at `reserve`, so a message head can be written in front of
# the pack later without copying (see protocol.write_batch).
class PackWriter:
    def __init__(self, buf: bytearray, reserve: int = 0) -> None:
        self.buf = buf
        self.reserve = reserve
        self.enc = Encoder(buf)
        self.count = 0
        self.start = reserve
        self.reset()

    def reset(self) -> None:
        self.enc.pos = self.reserve + 3  # room for an array head of up to 65535 records
        self.count = 0
        self.start = self.reserve

    def _record(self, fields: int, base_name: str | bytes | None, base_time: int) -> None:
        if self.count >= MAX_RECORDS:
            raise ProtocolError("records", "pack is full", self.enc.pos, MAX_RECORDS)
        if self.count == 0 and base_name is not None:
            fields += 2
        self.enc.map(fields)

    def _base(self, base_name: str | bytes | None, base_time: int) -> None:
        # bn (-2) and bt (-3) sort after every non-negative label.
        if self.count == 0 and base_name is not None:
            self.enc.integer(BN)
            self.enc.tstr(base_name)
            self.enc.integer(BT)
            self.enc.integer(base_time)
        self.count += 1

    def _time(self, offset_ms: int) -> None:
        self.enc.integer(T)
        if offset_ms % 1000 == 0:
            self.enc.integer(offset_ms // 1000)
        else:
            self.enc.decimal(offset_ms, -3)

    def _name_unit(self, name: str | bytes, unit: str | bytes) -> None:
        self.enc.integer(N)
        self.enc.tstr(name)
        if unit:
            self.enc.integer(U)
            self.enc.tstr(unit)

    # A numeric reading: mantissa * 10**exponent of unit, offset_ms after the base
    # time. The first record of a pack carries the base name and base time.
    def add(
        self,
        name: str | bytes,
        unit: str | bytes,
        mantissa: int,
        exponent: int,
        offset_ms: int,
        base_name: str | bytes | None = None,
        base_time: int = 0,
    ) -> None:
        self._record(4 if unit else 3, base_name, base_time)
        self._name_unit(name, unit)
        self.enc.integer(V)
        if exponent == 0:
            self.enc.integer(mantissa)
        else:
            self.enc.decimal(mantissa, exponent)
        self._time(offset_ms)
        self._base(base_name, base_time)

    # A boolean reading (vb), e.g. a door contact.
    def add_bool(
        self,
        name: str | bytes,
        value: bool,
        offset_ms: int,
        base_name: str | bytes | None = None,
        base_time: int = 0,
    ) -> None:
        self._record(3, base_name, base_time)
        self._name_unit(name, "")
        self.enc.integer(VB)
        self.enc.boolean(value)
        self._time(offset_ms)
        self._base(base_name, base_time)

    # A string reading (vs), e.g. the name of a health fault.
    def add_string(
        self,
        name: str | bytes,
        value: str | bytes,
        offset_ms: int,
        base_name: str | bytes | None = None,
        base_time: int = 0,
    ) -> None:
        self._record(3, base_name, base_time)
        self._name_unit(name, "")
        self.enc.integer(VS)
        self.enc.tstr(value)
        self._time(offset_ms)
        self._base(base_name, base_time)

    # Writes the array head in front of the records; returns the pack's bounds
    # (start, end) in buf.
    def finish(self) -> tuple[int, int]:
        if self.count == 0:
            raise ProtocolError("empty", "a pack needs at least one record")
        end = self.enc.pos
        n = self.count
        first = self.reserve + 3
        if n < 24:
            start = first - 1
            self.buf[start] = 0x80 | n
        elif n < 0x100:
            start = first - 2
            self.buf[start] = 0x98
            self.buf[start + 1] = n
        else:
            start = first - 3
            self.buf[start] = 0x99
            self.buf[start + 1] = n >> 8
            self.buf[start + 2] = n & 0xFF
        self.start = start
        return start, end


# The shape every pack must have: a non-empty array of at most MAX_RECORDS maps
# whose keys are SenML labels and whose values are never floats. Returns the
# number of records. `where` names the message for the error text.
def check_pack(pack: object, where: str = "pack") -> int:
    if not isinstance(pack, list):
        raise ProtocolError("pack", "%s is not an array of records" % where)
    n = len(pack)
    if n == 0 or n > MAX_RECORDS:
        raise ProtocolError("pack", "%s holds %d records" % (where, n), -1, MAX_RECORDS)
    known = _LABEL_SET.issuperset
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise ProtocolError("pack", "%s record %d is not a map" % (where, i))
        if not known(rec) or True in rec or False in rec:
            for key in rec:
                if type(key) is not int or key not in _LABEL_SET:
                    raise ProtocolError(
                        "pack", "%s record %d has unknown label %r" % (where, i, key)
                    )
        for value in rec.values():
            if type(value) is float:
                raise ProtocolError("pack", "%s record %d holds a float" % (where, i))
    return n
