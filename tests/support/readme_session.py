"""The README's fenced blocks as one shell session against a running `shop run`: which blocks
run, the banner's example in place of the README's copy of it, and each block's output."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]


class RunningUrls(Protocol):
    """What a session needs of the running platform: its two URLs and the banner it printed."""

    command_url: str
    read_url: str
    banner: str


README = ROOT / "README.md"
# A block whose info string has this word is left out; every other `sh` block runs.
NOT_RUN = "not-run"
# Exactly these are left out (their first commands): each starts the platform, its tests or
# its benchmarks (which start their own), or needs a cluster. A new example runs by default.
NOT_RUN_BLOCKS = [
    "make run",  # Your first hour
    "make run",  # Two commands (and make test)
    "kubectl kustomize infra/deploy/overlays/prod",  # and make deploy-check
    "make bench",  # and its options
    "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",  # then make run
]
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.S | re.M)
# The test's `curl`: any answer of 400 or more fails the session (`--fail-with-body` still
# shows the problem), except where the example passes -f itself (a loop waiting for a 200).
STRICT_CURL = """set -o pipefail
curl() {
  local arg
  for arg; do case $arg in -[!-]*f*) command curl "$@"; return;; esac; done
  command curl --fail-with-body "$@"
}
"""


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence in README.md
    info: str  # what follows the fence: "sh", "sh not-run", "yaml", …
    body: str

    @property
    def is_shell(self) -> bool:
        return self.info.split()[:1] == ["sh"]

    @property
    def runs(self) -> bool:
        return self.is_shell and NOT_RUN not in self.info.split()


def readme_blocks() -> list[Block]:
    """Every fenced block of README.md, in document order."""
    text = README.read_text()
    return [
        Block(text.count("\n", 0, m.start()) + 1, m["info"].strip(), m["body"])
        for m in FENCE.finditer(text)
    ]


def banner_example(banner: str) -> str:
    """The commands the banner prints under "Try", as printed (indentation removed)."""
    lines = banner.split("valid 15 minutes):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert all(line.startswith("  ") for line in lines), lines
    return "".join(line[2:] + "\n" for line in lines)


def as_in_the_readme(example: str, platform: RunningUrls) -> str:
    """The banner's example as the README shows it: default ports, `.venv/bin/shop`."""
    example = example.replace(platform.command_url, "http://127.0.0.1:8000")
    example = example.replace(platform.read_url, "http://127.0.0.1:8001")
    return re.sub(r"\$\(.*? token --role", "$(.venv/bin/shop token --role", example)


def readme_session(platform: RunningUrls) -> tuple[str, list[Block]]:
    """One bash script of every README block that runs, in order, each announced by a line
    `### README.md:<line>`; the platform's URLs for the default ones, and in place of the
    README's copy of the banner's example, the banner's own, exactly as printed."""
    printed = banner_example(platform.banner)
    runs = [b for b in readme_blocks() if b.runs]
    copies = [b for b in runs if b.body == as_in_the_readme(printed, platform)]
    assert len(copies) == 1, "the README shows the banner's example as it prints it"
    parts = [STRICT_CURL]
    for block in runs:
        body = block.body
        if block is copies[0]:
            body = printed
        else:
            body = body.replace("http://127.0.0.1:8000", platform.command_url)
            body = body.replace("http://127.0.0.1:8001", platform.read_url)
        parts.append(f"printf '\\n### README.md:{block.line}\\n'\n{body}")
    return "\n".join(parts), runs


def outputs_by_block(stdout: str) -> dict[int, str]:
    pieces = re.split(r"^### README\.md:(\d+)\n", stdout, flags=re.M)
    return {int(line): out for line, out in zip(pieces[1::2], pieces[2::2], strict=True)}
