"""Header-rewriting reverse proxy in front of osmem-server.

The official elasticsearch 9 client asks for ``application/vnd.elasticsearch+json;
compatible-with=9``, which osmem-server answers with 406. This proxy turns those media
types into plain ``application/json`` / ``application/x-ndjson`` and forwards everything
else unchanged, so production code talks to the embedded server as to a real one.

Run: ``python -m infra.embedded.es_compat --listen 127.0.0.1:19200 --upstream URL``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

_VENDOR_TYPE = re.compile(
    r"application/vnd\.elasticsearch\+(json|x-ndjson)\s*;\s*compatible-with\s*=\s*\d+",
    re.IGNORECASE,
)
_REWRITTEN = frozenset({"content-type", "accept"})
# Hop-by-hop or recomputed by aiohttp; everything else is forwarded as is.
_NOT_FORWARDED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"}
)
_UPSTREAM = web.AppKey("upstream", str)
_SESSION = web.AppKey("session", aiohttp.ClientSession)


def plain_media_type(value: str) -> str:
    """``application/vnd.elasticsearch+json; compatible-with=9`` -> ``application/json``."""
    return _VENDOR_TYPE.sub(r"application/\1", value)


def _forwarded(headers: Mapping[str, str], *, rewrite: bool) -> CIMultiDict[str]:
    kept: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        lower = key.lower()
        if lower in _NOT_FORWARDED:
            continue
        kept.add(key, plain_media_type(value) if rewrite and lower in _REWRITTEN else value)
    return kept


async def _proxy(request: web.Request) -> web.StreamResponse:
    headers = _forwarded(request.headers, rewrite=True)
    body = await request.read()
    url = request.app[_UPSTREAM] + request.rel_url.path_qs
    session = request.app[_SESSION]
    try:
        async with session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            reply = _forwarded(upstream.headers, rewrite=False)
            return web.Response(status=upstream.status, body=payload, headers=reply)
    except aiohttp.ClientError as exc:
        return web.Response(status=502, text=f"es_compat: upstream {url} failed: {exc}\n")


async def _open_session(app: web.Application) -> None:
    # A transparent hop: bodies pass through still compressed (with their Content-Encoding),
    # and no default Accept/Accept-Encoding/User-Agent of ours replaces the client's own.
    app[_SESSION] = aiohttp.ClientSession(
        auto_decompress=False, skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent")
    )


async def _close_session(app: web.Application) -> None:
    await app[_SESSION].close()


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=1024**3)  # bulk bodies can be large
    app[_UPSTREAM] = upstream.rstrip("/")
    app.on_startup.append(_open_session)
    app.on_cleanup.append(_close_session)
    app.router.add_route("*", "/{tail:.*}", _proxy)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, help="host:port to listen on")
    parser.add_argument("--upstream", required=True, help="URL of osmem-server")
    args = parser.parse_args(argv)
    host, _, port = str(args.listen).rpartition(":")
    web.run_app(make_app(args.upstream), host=host, port=int(port), print=None)


if __name__ == "__main__":
    main()
