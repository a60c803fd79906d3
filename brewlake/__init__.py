"""brewlake: a medallion lakehouse for the Open Brewery DB."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brewlake")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
