# Exit codes, reset causes and wake reasons shared by the simulated board
# (MicroPython, machine.py) and its supervisor (CPython). Plain constants only.

# Exit status of the micropython process for each simulated board event.
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_WDT = 17
EXIT_DEEPSLEEP = 18
EXIT_HARD_RESET = 19
EXIT_SOFT_RESET = 20

# machine.reset_cause() values (the ESP32 port's numbers).
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# machine.wake_reason() values (the ESP32 port's numbers).
PIN_WAKE = 2
EXT1_WAKE = 3
TIMER_WAKE = 4

RESET_CAUSES = {
    "PWRON_RESET": PWRON_RESET,
    "HARD_RESET": HARD_RESET,
    "WDT_RESET": WDT_RESET,
    "DEEPSLEEP_RESET": DEEPSLEEP_RESET,
    "SOFT_RESET": SOFT_RESET,
}

# Environment passed by the supervisor to each start of the board process.
ENV_RESET_CAUSE = "CITYNERVE_RESET_CAUSE"
ENV_WAKE_REASON = "CITYNERVE_WAKE_REASON"
ENV_SPEED = "CITYNERVE_SIM_SPEED"
ENV_EPOCH = "CITYNERVE_SIM_EPOCH"
ENV_ORIGIN = "CITYNERVE_SIM_ORIGIN"
# Set (to "1") when the board runs on a pty console under `micropython -i`.
ENV_CONSOLE = "CITYNERVE_CONSOLE"
# Set (to "1") for a restart after a soft reset in raw REPL: boot.py then sets
# the board up but does not run the firmware entry (a board skips main.py too).
ENV_NO_MAIN = "CITYNERVE_NO_MAIN"
