# mypy: ignore-errors
# The virtual board's entry module (hardware/hal/boot.py config "entry"): like
# a board's MicroPython, run main.py when the filesystem has one, so a blank
# board sits at the REPL until `fleet flash` installs the node.
try:
    open("main.py").close()
except OSError:
    pass
else:
    import main  # noqa: F401
