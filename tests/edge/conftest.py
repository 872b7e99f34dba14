"""Fixtures of the edge agent tests: a private Mosquitto per session, keys, configs, agents."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edge_helpers import AgentProcess, Broker, Subscriber, write_keys

from edge_agent.agent import EdgeAgent
from edge_agent.config import Config

NODES = [f"ja-hyd-{i:06d}" for i in range(8)]


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A private Mosquitto (persistence on, no queue limit) for the whole session."""
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.stop()


@pytest.fixture(autouse=True)
def _no_stray_agents() -> Iterator[None]:
    """Kill agent processes a failed test left running (by their own pid)."""
    yield
    while AgentProcess.running:
        AgentProcess.running.pop().kill()


@pytest.fixture
def live_broker(broker: Broker) -> Broker:
    """The session broker, started again if an earlier test left it stopped."""
    if broker.proc is None or broker.proc.poll() is not None:
        broker.start()
    return broker


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A keys file (mode 0600) for NODES."""
    return write_keys(tmp_path / "keys.json", NODES)


@pytest.fixture
def subscriber_factory(live_broker: Broker) -> Iterator[type[Subscriber]]:
    """Make subscribers that are closed after the test."""
    made: list[Subscriber] = []

    class Made(Subscriber):
        def __init__(self, topic: str, **kw: object) -> None:
            super().__init__(live_broker.port, topic, **kw)  # type: ignore[arg-type]
            made.append(self)

    yield Made
    for s in made:
        s.close()


@pytest.fixture
async def agent_factory() -> AsyncIterator[object]:
    """Start in-process agents; all are closed at teardown (closing twice is safe)."""
    agents: list[EdgeAgent] = []

    async def start(config: Config) -> EdgeAgent:
        agent = EdgeAgent(config=config)
        await agent.__aenter__()
        agents.append(agent)
        return agent

    yield start
    for a in agents:
        await a.aclose()
