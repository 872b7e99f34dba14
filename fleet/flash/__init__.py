"""The technician's flow: ``fleet flash`` over a serial cable and ``fleet discover``.

Modules: :mod:`.flow` (the steps), :mod:`.device_code` and
:mod:`.device.installer` (what runs on the board), :mod:`.registry_client`
(what the flow needs from the fleet API), :mod:`.resume` (the 0600 resume
file), :mod:`.report` (progress), :mod:`.baseimage` (MicroPython itself on a
blank board), :mod:`.cli` (the commands).
"""
