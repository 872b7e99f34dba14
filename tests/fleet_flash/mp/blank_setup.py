# mypy: ignore-errors
# The virtual board's setup hook: attach the kit's simulated chips once the
# node is provisioned (cfg/board.json says where they are); a blank board has
# no parts yet.


def setup(registry, config):
    try:
        open("cfg/board.json").close()
    except OSError:
        return
    from hardware.sim import attach

    attach.setup(registry, config)
