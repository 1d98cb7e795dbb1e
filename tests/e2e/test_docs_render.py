"""`/docs` and `/redoc` render with no network (issue 15, point 4): Debian's headless Chromium
loads each page from the APIs as `shop` serves them, with every other host unresolvable, runs
its scripts, and must show the operations; a screenshot of each is kept beside the test's
logs. `make test` / `make e2e` install Chromium when run as root; without it this is skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.platform import serve_apis

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Every name but the APIs' own address fails to resolve: an asset from the internet cannot load.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # as root in a container
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            OFFLINE,
            "--virtual-time-budget=15000",  # let the page's scripts fetch and render
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def served(settings: Settings, processes: Supervisor) -> dict[str, str]:
    return serve_apis(processes, settings)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make chromium, as root)")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        # Swagger UI draws one block per operation; ReDoc a heading per operation.
        ("/docs", 'class="opblock-summary-path"'),
        ("/redoc", "redoc-wrap"),
    ],
)
def test_the_docs_pages_render_offline_in_a_headless_browser(
    served: dict[str, str], tmp_path: Path, page: str, rendered: str
) -> None:
    for api, url in served.items():
        shot = tmp_path / f"{api}{page.replace('/', '-')}.png"
        # One browser start for both (a start costs seconds of CPU): the DOM on stdout, the
        # screenshot in the file.
        dom = _chromium("--dump-dom", f"--screenshot={shot}", "--window-size=1280,1400", url + page)
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        assert rendered in html, f"{api}{page} did not render: {html[:1500]}"
        if page == "/docs":
            assert "/healthz" in html  # an operation of the document, drawn by the page
            assert "Failed to load API definition" not in html
        else:
            assert "healthz" in html.lower() or "Health" in html
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
