"""The ``citynerve`` command: demo end to end over TCP, and garbage arguments."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from hardware.cli import main


def test_demo_runs_end_to_end_and_every_batch_is_acknowledged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Virtual nodes over real loopback TCP: every batch authenticated, stored once, acked."""
    assert main(["demo", "--nodes", "5", "--batches", "4", "--readings", "20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["hellos"] == 5
    assert summary["batches_sent"] == summary["batches_acked"] == summary["batches_stored"] == 20
    assert summary["readings_acked"] == 400
    assert summary["duplicates"] == 0 and summary["refused"] == {}
    assert summary["sample_record"]["0"] == "temp"
    assert "5 virtual nodes sent 20 batches" in lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--nodes", "zero"], "expected a whole number, got 'zero'"),
        (["demo", "--nodes", "0"], "must be at least 1, got 0"),
        (["demo", "--batches", "-3"], "must be at least 1, got -3"),
        (["nodes", "--edge", "localhost"], "expected HOST:PORT"),
        (["nodes", "--edge", "localhost:99999"], "expected HOST:PORT"),
        (["nodes"], "the following arguments are required: --edge"),
        (["launch"], "invalid choice: 'launch'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_garbage_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every bad argument names what was wrong and exits with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_nodes_against_a_closed_port_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    """No edge listening: exit 1 and a message naming the endpoint."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["nodes", "--edge", f"127.0.0.1:{port}", "--count", "1"]) == 1
    assert f"cannot reach the edge at 127.0.0.1:{port}" in capsys.readouterr().err


def test_version_subcommand_and_flag_from_a_real_process() -> None:
    """The console entry point works as a process."""
    out = subprocess.run(
        [sys.executable, "-m", "hardware.cli", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.startswith("citynerve ")
