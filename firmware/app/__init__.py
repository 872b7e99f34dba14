# The node application: drivers, sampling, event detection, the flash queue and
# the link. Runs from an app slot (/a or /b) started by the loader.
