# Drivers for the chips of the sensor kits. Each allocates its buffers once,
# checks the chip's identity when it starts, and raises SensorFault (never a
# bare crash) when the part is missing, answers wrongly or fails a checksum.
