"""One simulator process for the whole session; every test starts from a reset and `BASE_CONFIG`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from campaign.simulator.control import SimControl
from tests.simulator.harness import BASE_CONFIG, Receiver, Sim, start_simulator, stop_process
from tests.support.http_server import HttpServer


@pytest.fixture(scope="session")
def sim_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    proc, url = start_simulator(tmp_path_factory.mktemp("simulator") / "simulator.log")
    try:
        yield proc, url
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def sim_url(sim_process: tuple[subprocess.Popen[bytes], str]) -> str:
    return sim_process[1]


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()
    with HttpServer(receiver) as server:
        yield receiver, server.url


@pytest.fixture
def sim(sim_url: str, receiver_server: tuple[Receiver, str]) -> Iterator[Sim]:
    receiver, receiver_url = receiver_server
    with SimControl(sim_url) as control, httpx.Client() as http:
        control.replace_config(BASE_CONFIG)
        control.reset()
        receiver.clear()
        yield Sim(sim_url, control, http, receiver, receiver_url)
        control.reset()
