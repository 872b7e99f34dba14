# The simulated NOR flash chip, littlefs mount helpers and a CPython image tool.
