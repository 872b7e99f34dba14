# Event detection building blocks shared by the kits (firmware/app/kits):
# alarm episodes (once per episode, clear policy), accelerometer windows
# (tilt, impact, noise), trip vibration statistics, the pressure burst ring
# buffer and plausibility scores. Integer arithmetic in every per-sample
# path; floats only once per window (square roots, angles).
