"""CityNerve edge agent: the asyncio gateway between sensor nodes and the city platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("citynerve")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
