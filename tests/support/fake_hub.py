"""A minimal stand-in for the Hugging Face Hub, over HTTP on 127.0.0.1, serving local
folders as dataset repos: enough for huggingface_hub's ``snapshot_download`` (written
against huggingface_hub 2.4) to fill a real cache with its own code, without network.

It answers the three requests ``snapshot_download`` makes: the repo's revision
(``/api/datasets/ORG/NAME/revision/REV``), its file tree (``.../tree/SHA``) and each file
(``HEAD``/``GET /datasets/ORG/NAME/resolve/REV/PATH``). Every repo has one commit, ``sha``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


class FakeHub:
    def __init__(self, repos: dict[str, str], sha: str):
        self.repos = repos  # repo id -> local folder
        self.sha = sha
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest's output clean
                pass

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo: str) -> list[str]:
        root = self.repos[repo]
        return sorted(
            os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
            for d, _, names in os.walk(root)
            for f in names
        )

    def answer(self, req: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlparse(req.path).path)
        self.requests.append(f"{req.command} {path}")
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6:
            repo, what = "/".join(parts[2:4]), parts[4]  # one commit: any revision is it
            if repo not in self.repos:
                return self.send(
                    req,
                    404,
                    b'{"error": "Repository not found"}',
                    {"X-Error-Code": "RepoNotFound"},
                    body,
                )
            if what == "revision":
                info = {
                    "id": repo,
                    "sha": self.sha,
                    "siblings": [{"rfilename": f} for f in self.files(repo)],
                }
                return self.send(req, 200, json.dumps(info).encode(), {}, body)
            if what == "tree":
                tree = [
                    {
                        "type": "file",
                        "path": f,
                        "size": len(self.read(repo, f)),
                        "oid": self.oid(repo, f),
                    }
                    for f in self.files(repo)
                ]
                return self.send(req, 200, json.dumps(tree).encode(), {}, body)
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            repo, name = "/".join(parts[1:3]), "/".join(parts[5:])
            if repo in self.repos and name in self.files(repo):
                data = self.read(repo, name)
                headers = {"X-Repo-Commit": self.sha, "ETag": f'"{self.oid(repo, name)}"'}
                return self.send(req, 200, data, headers, body)
            return self.send(req, 404, b"", {"X-Error-Code": "EntryNotFound"}, body)
        self.send(req, 404, b"", {}, body)

    def read(self, repo: str, name: str) -> bytes:
        with open(os.path.join(self.repos[repo], name), "rb") as f:
            return f.read()

    def oid(self, repo: str, name: str) -> str:
        return hashlib.sha1(self.read(repo, name)).hexdigest()

    @staticmethod
    def send(
        req: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict, body: bool
    ) -> None:
        req.send_response(status)
        for key, value in {"Content-Length": str(len(data)), **headers}.items():
            req.send_header(key, value)
        req.end_headers()
        if body:
            req.wfile.write(data)
