"""The fleet manager's HTTP API."""
