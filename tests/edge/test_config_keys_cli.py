"""Bad input from files and the command line: every problem named with its key path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from edge_helpers import ROOT, write_keys

from edge_agent.cli import main
from edge_agent.config import Config, ConfigError, describe, load_config, parse_config
from edge_agent.keys import KeysError, KeyStore, parse_keys, read_keys


def test_an_empty_file_gives_the_documented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text("")
    config = load_config(path)
    assert config == Config()
    assert config.tcp.port == 7300 and config.mqtt.format == "cbor"
    assert config.journal.when_full == "drop_oldest_periodic"
    assert config.journal_path == Path("/var/lib/citynerve-edge/journal.sqlite")


def test_every_problem_is_listed_with_its_key_path_and_what_is_allowed() -> None:
    data = {
        "tcp": {"port": 70000, "prot": 1, "enabled": "yes"},
        "mqtt": {"format": "xml", "reconnect_min_s": 5.0, "reconnect_max_s": 1.0, "prefix": "a/#"},
        "journal": {"disk_budget_mb": -1},
        "edge": {"district": "jing/an", "keepalive_s": 1.5},
        "serial": [{"baudrate": 9600}, {"device": "/dev/x"}, {"device": "/dev/x"}],
        "discovery": {"interfaces": "lo"},
        "metrix": {},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(data, "edge.toml")
    text = str(info.value)
    for expected in (
        "tcp.port: got 70000, allowed: a whole number from 0 to 65535",
        "tcp.prot: unknown setting (did you mean 'port'?)",
        "tcp.enabled: got 'yes', allowed: true or false",
        "mqtt.format: got 'xml', allowed: one of 'cbor', 'json'",
        "mqtt.reconnect_max_s: 1 is below mqtt.reconnect_min_s 5",
        "mqtt.prefix: got 'a/#'",
        "journal.disk_budget_mb: got -1, allowed: a number of at least 0.01",
        "edge.district: got 'jing/an', allowed: text without /, # or +",
        "edge.keepalive_s: got 1.5, allowed: a whole number from 5 to 3600",
        "serial[0].device: missing",
        "serial: device '/dev/x' is listed twice",
        "discovery.interfaces: got 'lo', allowed: a list of strings",
        "metrix: unknown section (did you mean 'metrics'?)",
    ):
        assert expected in text, expected
    assert text.startswith("edge.toml: 13 problem(s)")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[tcp\nport = 1", "not valid TOML"),
        (b"\xff\xfe", "not UTF-8 text at byte offset 0"),
        (b"tcp = 3", "tcp: must be a table ([tcp]), got 3"),
        (b"[serial]\ndevice = 'x'", "serial: must be an array of tables ([[serial]])"),
    ],
)
def test_unreadable_configs_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")


def test_the_settings_reference_in_the_docs_covers_every_setting() -> None:
    doc = (ROOT / "docs" / "edge-agent.md").read_text()
    example = (ROOT / "edge_agent" / "deploy" / "edge.example.toml").read_text()
    for key, _kind, default, _doc in describe():
        assert f"`{key}`" in doc, key
        name = key.split(".", 1)[1]
        assert f"# {name} = " in example or f"{name} = " in example, key
        assert default


def test_keys_file_problems_are_named(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "nodes": {
                "a": {"key": "zz"},
                "b": {"key": "00" * 8},
                "c": {"key": "00" * 16, "sleep_s": -1, "revoked": "no", "colour": 1},
                "d": "nope",
            }
        }
    )
    with pytest.raises(KeysError) as info:
        parse_keys(text, "keys.json")
    msg = str(info.value)
    for expected in (
        "nodes['a'].key: not hexadecimal",
        "nodes['b'].key: 8 bytes, allowed: at least 16",
        "nodes['c'].sleep_s: got -1",
        "nodes['c'].revoked: got 'no', allowed: true or false",
        "nodes['c'].colour: unknown field",
        "nodes['d']: must be an object with a key",
    ):
        assert expected in msg, expected
    with pytest.raises(KeysError, match=r"not valid JSON: .* at line 1 column 2 \(offset 1\)"):
        parse_keys("{x", "k")
    with pytest.raises(KeysError, match="expected an object"):
        parse_keys("[]", "k")


def test_a_keys_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = write_keys(tmp_path / "keys.json", ["n1"], mode=0o644)
    with pytest.raises(KeysError, match=r"mode 0644 lets the group or others read .* \(chmod 600"):
        read_keys(path)
    with pytest.raises(KeysError, match="cannot read the keys file"):
        read_keys(tmp_path / "none.json")
    path.chmod(0o600)
    nodes, _ = read_keys(path)
    assert set(nodes) == {"n1"}


async def test_keystore_reports_changed_and_revoked_nodes(tmp_path: Path) -> None:
    path = write_keys(tmp_path / "keys.json", ["a", "b", "c"])
    changes: list[set[str]] = []
    store = KeyStore(path=path, poll_s=0.05, on_change=changes.append)
    doc = json.loads(path.read_text())
    doc["nodes"]["a"]["revoked"] = True
    doc["nodes"]["b"]["key"] = "11" * 32
    del doc["nodes"]["c"]
    doc["nodes"]["d"] = {"key": "22" * 32, "sleep_s": 600}
    path.write_text(json.dumps(doc))
    assert store.changed_on_disk() and store.reload()
    assert changes == [{"a", "b", "c"}]
    assert store.lookup("a") is None and store.lookup("c") is None
    assert store.lookup("b") == bytes.fromhex("11" * 32)
    assert store.sleep_s("d") == 600
    path.chmod(0o640)
    path.write_text(json.dumps(doc) + " ")
    assert not store.reload() and store.reload_errors == 1
    assert store.lookup("b") is not None  # the previous keys stay in force


def test_cli_check_config_and_check_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = write_keys(tmp_path / "keys.json", ["n1", "n2"])
    good = tmp_path / "good.toml"
    good.write_text(f'[edge]\nid = "e1"\n[keys]\nfile = "{keys}"\n')
    assert main(["check-config", str(good)]) == 0
    assert "ok (edge e1, district default)" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 0\n")
    assert main(["check-config", str(bad)]) == 2
    assert "mqtt.port: got 0, allowed: a whole number from 1 to 65535" in capsys.readouterr().err
    nokeys = tmp_path / "nokeys.toml"
    nokeys.write_text(f'[keys]\nfile = "{tmp_path / "absent.json"}"\n')
    assert main(["check-config", str(nokeys)]) == 2
    assert "keys.file:" in capsys.readouterr().err
    assert main(["check-keys", str(keys)]) == 0
    assert "ok (2 nodes, 0 revoked)" in capsys.readouterr().out
    keys.chmod(0o666)
    assert main(["check-keys", str(keys)]) == 2
    assert "mode 0666" in capsys.readouterr().err
    assert main(["run", "--config", str(bad)]) == 2
    assert main(["settings"]) == 0
    assert "| `journal.when_full` |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["run"], "the following arguments are required: --config"),
        (["check-config"], "the following arguments are required: FILE"),
        (["launch"], "invalid choice: 'launch'"),
    ],
)
def test_cli_garbage_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_with_an_unusable_keys_file_fails_clearly(tmp_path: Path) -> None:
    """A real process: exit 1 and a message naming the keys file."""
    keys = write_keys(tmp_path / "keys.json", ["n1"], mode=0o644)
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[edge]\nstate_dir = "{tmp_path}"\n[keys]\nfile = "{keys}"\n[tcp]\nport = 0\n'
        "[mqtt]\nenabled = false\n[metrics]\nenabled = false\n[discovery]\nenabled = false\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "mode 0644" in result.stderr
    version = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    assert version.stdout.startswith("edge-agent ")
