"""Every request in the README's shell examples and in `make run`'s banner is well formed:
its body parses as JSON, an Idempotency-Key is long enough, a protected route gets a token.
(`tests/e2e/test_first_hour.py` runs them for real, against `shop run`.)"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.platform import _print_banner
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Public routes (security/access.py): the rest needs an access token.
PUBLIC_COMMANDS = {("POST", "/users"), ("POST", "/auth/login"), ("POST", "/auth/refresh")}
PUBLIC_QUERIES = ("/products/search", "/healthz", "/readyz", "/asyncapi.json")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def commands(block: str) -> list[list[str]]:
    """The block's commands as words: continuation lines and open quotes joined."""
    found, pending = [], ""
    for line in block.splitlines():
        pending += line + "\n"
        if pending.rstrip().endswith("\\"):
            continue
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True  # `;`, `|`, `(` and `)` are words of their own
        try:
            words = list(lexer)
        except ValueError:  # a quote still open: the command goes on
            continue
        if words:
            found.append(words)
        pending = ""
    assert not pending.strip(), f"unterminated command: {pending}"
    return found


def variables(text: str) -> dict[str, str]:
    return dict(re.findall(r"""\b([A-Z]\w*)=["']([^"'$]*(?:\$\w+)?)["']""", text))


def curl_requests(text: str) -> list[dict[str, object]]:
    known = variables(text)
    requests = []
    for block in shell_blocks(text):
        for words in commands(block):
            while "curl" in words:
                words = words[words.index("curl") + 1 :]
                request: dict[str, object] = {"method": "GET", "headers": [], "body": None}
                for flag, value in zip(words, [*words[1:], ""], strict=True):
                    if flag == "curl":
                        break
                    if flag == "-X":
                        request["method"] = value
                    elif flag == "-H":
                        headers = request["headers"]
                        assert isinstance(headers, list)
                        headers.append(known.get(value.removeprefix("$"), value))
                    elif flag == "-d":
                        request["body"] = value
                    elif "://" in flag and "url" not in request:
                        request["url"] = flag.strip("'\"")
                requests.append(request)
    return requests


README = (ROOT / "README.md").read_text()
REQUESTS = curl_requests(README)


def test_the_readme_has_requests_to_check() -> None:
    assert len(REQUESTS) > 20


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r['method']} {r.get('url')}")
def test_every_readme_request_is_well_formed(request_: dict[str, object]) -> None:
    headers = [str(h) for h in request_["headers"]]  # type: ignore[attr-defined]
    lower = [h.lower() for h in headers]
    if request_["body"] is not None:
        json.loads(str(request_["body"]))
        assert "content-type: application/json" in lower
    for header in headers:
        if header.lower().startswith("idempotency-key:"):
            assert len(header.split(":", 1)[1].strip()) >= 8, header
    url = urlsplit(str(request_["url"]))
    method = str(request_["method"])
    public = (
        (method, url.path) in PUBLIC_COMMANDS
        if url.port == 8000
        else url.path.startswith(PUBLIC_QUERIES) or re.fullmatch(r"/products/[^/]+", url.path)
    )
    if not public:
        assert any(h.startswith("authorization: bearer") for h in lower), url.path


def test_the_banner_example_requests_parse(capsys: pytest.CaptureFixture[str]) -> None:
    stack = Settings(
        database_url="postgresql://shop@127.0.0.1:15432/shop",
        kafka_bootstrap="127.0.0.1:19092",
        elasticsearch_url="http://127.0.0.1:19200",
        redis_url="redis://127.0.0.1:16379/0",
        smtp_url="smtp://127.0.0.1:11025",
    )
    _print_banner(stack, "http://127.0.0.1:8000", "http://127.0.0.1:8001", 12, Path("logs"))
    banner = capsys.readouterr().out
    example = banner.split("valid 15 minutes):", 1)[1]
    requests = [r for r in curl_requests("```sh\n" + example + "```\n") if r["body"]]
    assert len(requests) == 1
    product = json.loads(str(requests[0]["body"]))
    assert product["price"] == {"amount": "34.90", "currency": "EUR"}
    assert "token --role admin" in banner
