"""Schemathesis against the published OpenAPI document, on a live server over loopback, with
a token per role (bounded examples, fixed seed). Checks: no server errors, status codes,
content types, headers and bodies as documented, invalid input rejected, Allow headers...
(all but positive_data_acceptance: cross-field and reference errors — a technician id that
does not exist, duplicate node ids — are 400s the schema cannot express)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, World, build_world

ST = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"


@pytest.fixture(params=BACKENDS)
def fuzz_world(request: pytest.FixtureRequest, db_url_factory: Any) -> Iterator[World]:
    w = build_world(str(request.param), db_url_factory(str(request.param), "fuzz"))
    yield w
    w.server.stop()
    w.registry.close()


def run_st(w: World, role: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            ST, "run", f"{w.server.url}/openapi.json",
            "-H", f"Authorization: Bearer {w.tokens[role]}",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--seed", "1", "--no-color", "--generation-database", "none",
            "--request-timeout", "20", "--report-dir", str(tmp / role),
            *extra,
        ],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def test_openapi_document(fuzz_world: World) -> None:
    with fuzz_world.server.client() as c:
        doc = c.get("/openapi.json").json()
    assert doc["info"]["title"] == "CityNerve fleet manager"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "422" not in codes, (method, path)
            if path.startswith("/api/"):
                assert {"400", "401", "403"} <= codes, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]


@pytest.mark.parametrize(
    "role,extra",
    [
        ("admin", ("-n", "12")),
        ("technician", ("-n", "8", "--phases", "examples,fuzzing,stateful")),
        ("edge", ("-n", "5", "--phases", "examples,fuzzing")),
    ],
)
def test_schemathesis(fuzz_world: World, tmp_path: Path, role: str, extra: tuple[str, ...]) -> None:
    r = run_st(fuzz_world, role, tmp_path, *extra)
    tail = r.stdout[-6000:]
    assert r.returncode == 0, tail + r.stderr[-2000:]
    assert " passed" in tail or "generated" in tail, tail
