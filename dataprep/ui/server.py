"""The web server of ``dataprep ui``: routing, and the only code that talks to the
socket. Starlette (routing, requests, responses) on uvicorn (the HTTP server); README's
"See your data" says why these.

Every page is a function of the request's numbers and words to a dict (``data``,
``folder``, ``template``); the dict is sent as JSON under ``/api/...`` (or with
``?format=json``), else as HTML (``pages``). Read-only: GET and HEAD only. A refused or
bad request gets a page that says why; any other exception an error page with one line
(the traceback goes to a log file, as the command line does), and the server goes on.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Callable
from importlib import resources
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from dataprep.errors import DataprepError
from dataprep.ui import data, folder, pages, template
from dataprep.ui.catalog import Catalog, PageError

STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}


class App:
    """The pages of one set of given paths, and the work they started."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.scans = data.Scans()
        self.folders = folder.Folders(catalog)
        self.static = {
            name: resources.files("dataprep.ui").joinpath("static", name).read_bytes()
            for name in STATIC
        }
        n = r"/(\d+)"
        self.routes: list[tuple[re.Pattern[str], Callable[..., dict[str, Any]]]] = [
            (re.compile(p + r"/?"), f)
            for p, f in (
                ("", self.home),
                ("/file" + n, self.file),
                ("/scan" + n, self.scan),
                ("/folder" + n, self.folder),
                ("/recipe" + n, self.recipe),
                ("/prepared" + n, self.prepared),
                ("/prepared" + n + "/row", self.row),
                ("/prepared" + n + "/search", self.search),
                ("/prepared" + n + "/rejects", self.rejects),
                ("/template" + n, self.template),
            )
        ]

    # --- the pages: (request, input number) -> dict ------------------------------------

    def home(self, q: Query) -> dict[str, Any]:
        return data.home(self.catalog)

    def file(self, q: Query, n: int) -> dict[str, Any]:
        target = self.catalog.file(n, q.text("rel"), q.number("source"))
        return data.raw_file(self.catalog, self.scans, target, page=q.number("page", 0),
                             size=q.number("size", data.PAGE_ROWS), line=q.number("line"),
                             code=q.text("code"))  # fmt: skip

    def scan(self, q: Query, n: int) -> dict[str, Any]:
        target = self.catalog.file(n, q.text("rel"), q.number("source"))
        return {"page": "scan", **self.scans.get(target).status()}

    def folder(self, q: Query, n: int) -> dict[str, Any]:
        return data.folder_listing(self.catalog, n)

    def recipe(self, q: Query, n: int) -> dict[str, Any]:
        return data.recipe_page(self.catalog, n)

    def prepared(self, q: Query, n: int) -> dict[str, Any]:
        return folder.summary(self.folders, n)

    def row(self, q: Query, n: int) -> dict[str, Any]:
        return folder.row(self.folders, n, q.text("split") or "train", q.number("n", 0))

    def search(self, q: Query, n: int) -> dict[str, Any]:
        return folder.search(self.folders, n, q.text("q") or "", q.text("split") or "train",
                             q.number("start", 0))  # fmt: skip

    def rejects(self, q: Query, n: int) -> dict[str, Any]:
        return folder.rejects(self.folders, n, q.text("reason"), q.number("page", 0))

    def template(self, q: Query, n: int) -> dict[str, Any]:
        return template.template_page(self.catalog, n)

    # --- dispatch ------------------------------------------------------------------------

    def respond(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/static/"):
            name = path[len("/static/") :]
            if name not in self.static:
                return self.error(404, f"{path}: no such file", False)
            return Response(self.static[name], media_type=STATIC[name],
                            headers={"Cache-Control": "no-cache"})  # fmt: skip
        as_json = path == "/api" or path.startswith("/api/")
        if as_json:
            path = path[len("/api") :] or "/"
        q = Query(request)
        as_json = as_json or q.text("format") == "json"
        try:
            for pattern, handler in self.routes:
                m = pattern.fullmatch(path)
                if m:
                    page = handler(q, *(int(g) for g in m.groups()))
                    break
            else:
                raise PageError(f"{path}: no such page")
        except PageError as e:
            status = e.status if path != "/" or e.status != 400 else 404
            return self.error(404 if str(e).endswith("no such page") else status, str(e), as_json)
        except DataprepError as e:
            # Bad input: a broken file, a damaged folder, a recipe that does not read.
            return self.error(422, str(e), as_json)
        except ModuleNotFoundError as e:
            from dataprep.boundary import missing_train_extra

            message = missing_train_extra(e)
            if message is None:
                return self.internal(e, request, as_json)
            return self.error(501, message.replace("this command", "this page"), as_json)
        except Exception as e:  # a bug: one line to the client, the traceback to a log
            return self.internal(e, request, as_json)
        if as_json:
            return json_response(page)
        return HTMLResponse(pages.render(page))

    def error(self, status: int, message: str, as_json: bool) -> Response:
        if as_json:
            return json_response({"error": message, "status": status}, status)
        return HTMLResponse(pages.error_page(status, message), status_code=status)

    def internal(self, e: Exception, request: Request, as_json: bool) -> Response:
        from dataprep import failures

        log = failures.log_internal_error(e, ["dataprep ui", str(request.url)])
        where = f"; the traceback is in {log}" if log else ""
        print(f"dataprep ui: internal error on {request.url.path}: {type(e).__name__}: {e}{where}",
              file=sys.stderr, flush=True)  # fmt: skip
        return self.error(500, f"internal error (a bug in dataprep ui): {type(e).__name__}: {e}",
                          as_json)  # fmt: skip


class Query:
    """The query parameters, read as the pages want them."""

    def __init__(self, request: Request):
        self._params = request.query_params

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        return value if value not in (None, "") else None

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.text(name)
        if value is None:
            return default
        try:
            n = int(value)
        except ValueError:
            raise PageError(f"{name} must be a whole number, not {value!r}") from None
        if n < 0:
            raise PageError(f"{name} must be 0 or more, not {n}")
        return n


def json_response(value: Any, status: int = 200) -> Response:
    body = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status, media_type="application/json")


def make_app(catalog: Catalog) -> tuple[Starlette, App]:
    """The ASGI app serving ``catalog``, and the pages behind it."""
    pages_app = App(catalog)

    def endpoint(request: Request) -> Response:  # sync: Starlette runs it in a thread
        return pages_app.respond(request)

    routes = [Route("/{path:path}", endpoint, methods=["GET", "HEAD"])]
    return Starlette(routes=routes), pages_app


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def serve(catalog: Catalog, host: str, port: int, say: Callable[[str], None]) -> None:
    """Serve until Ctrl-C (or SIGTERM), then end the work started and return."""
    import uvicorn

    sock = bind(host, port)
    try:
        app, pages_app = make_app(catalog)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        shown = f"[{host}]" if ":" in host else host
        n = len(catalog.entries)
        say(f"dataprep ui: listening on http://{shown}:{sock.getsockname()[1]}/ "
            f"({n} input{'s' if n != 1 else ''}; Ctrl-C stops)")  # fmt: skip
        # What the first page of a file needs, imported while the server starts, not on
        # the first request (after the "listening" line, so that start stays quick).
        threading.Thread(target=_warm_up, daemon=True, name="ui-warm-up").start()
        try:
            server.run(sockets=[sock])
        finally:
            pages_app.scans.close()
    except KeyboardInterrupt:
        pass  # Ctrl-C before uvicorn took the signal, or raised again by it after its shutdown
    finally:
        sock.close()


def _warm_up() -> None:
    import numpy  # noqa: F401  (the row index)

    import dataprep.reading
    import dataprep.validate.canonical_row  # noqa: F401
