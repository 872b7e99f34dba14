"""Talking to a MicroPython board's REPL: :class:`Transport` and its serial port."""

from fleet.transport.base import (
    DeviceError,
    DeviceTimeout,
    Disconnected,
    NoRepl,
    PortBusy,
    PortDenied,
    PortNotFound,
    Transport,
    TransportError,
)
from fleet.transport.serial_transport import SerialTransport, list_ports

__all__ = [
    "DeviceError",
    "DeviceTimeout",
    "Disconnected",
    "NoRepl",
    "PortBusy",
    "PortDenied",
    "PortNotFound",
    "SerialTransport",
    "Transport",
    "TransportError",
    "list_ports",
]
