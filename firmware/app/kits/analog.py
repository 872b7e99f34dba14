# The ADS1115 front end of a kit (hydrant pressure loop, elevator motor
# current): the input wired to the quantity (board file
# parts.adc.facts.inputs, e.g. {"AIN0": "pressure"}), the full scale, and an
# optional zero reference - an input tied to GND, named by the fact
# "zero_ref" (e.g. "AIN3") - whose reading shows a noisy or offset converter
# that the measured signal, noisy itself, cannot show.

from firmware.app.compat import const
from firmware.app.detect.checks import Score
from firmware.app.drivers.ads1115 import ADS1115
from firmware.app.drivers.fault import SensorFault

PART = "ads1115"
FAST_SPS = const(860)
ZERO_READS = const(8)
ZERO_LIMIT_UV = const(1000)  # 8 LSB at 4.096 V full scale


def _ain(name):
    if isinstance(name, str) and len(name) == 4 and name[:3] == "AIN" and name[3] in "0123":
        return ord(name[3]) - 48
    return -1


class Analog:
    def __init__(self, kit, quantity):
        self.kit = kit
        facts = kit.facts("adc")
        self.address = kit.part("adc").get("address", 0x48)
        self.channel = 0
        for ain, q in (facts.get("inputs") or {}).items():
            if q == quantity and _ain(ain) >= 0:
                self.channel = _ain(ain)
        fsr = facts.get("pga_fsr_uv", 4096000)
        self.fsr = fsr if isinstance(fsr, int) else 4096000
        self.zero = _ain(facts.get("zero_ref"))
        self.drv = None
        self.noise = Score()

    def start(self):
        i2c = self.kit.hw.get("i2c")
        if i2c is None:
            self.kit.fault(PART, "no I2C bus in the board file")
            return False
        if self.drv is None:
            self.drv = ADS1115(i2c, self.address)
        try:
            self.drv.start()
        except (SensorFault, OSError) as e:
            self.kit.failed(PART, e)
            self.drv = None
            return False
        self.kit.fine(PART)
        return True

    # One conversion of the signal in microvolts, or None after a fault.
    def read_uv(self, rate=FAST_SPS):
        if self.drv is None and not self.start():
            return None
        try:
            uv = self.drv.read_uv(self.channel, self.fsr, rate)
        except (SensorFault, OSError) as e:
            self.kit.failed(PART, e)
            self.drv = None
            return None
        self.kit.measured(PART)
        if ADS1115.saturated(uv, self.fsr):
            self.kit.fault(PART, "saturated (conversion at full scale)")
            return None
        return uv

    # Reads the zero reference (when the board has one) and updates the noise
    # score; once per sample.
    def check_zero(self):
        if self.zero < 0 or self.drv is None:
            return
        worst = 0
        try:
            for _ in range(ZERO_READS):
                v = abs(self.drv.read_uv(self.zero, self.fsr, FAST_SPS))
                worst = max(worst, v)
        except (SensorFault, OSError) as e:
            self.kit.failed(PART, e)
            self.drv = None
            return
        noisy = self.noise.update(worst > ZERO_LIMIT_UV)
        self.kit.suspect(PART, "noisy (zero reference off by more than 1 mV)" if noisy else None)

    def good(self):
        if PART in self.kit.faults:
            del self.kit.faults[PART]
        self.kit._publish(PART)
        return self.kit.ok(PART)
