"""A loopback stand-in of the part of the Hugging Face Hub's HTTP API that `peppp-bench publish` and `load`
use: create a repository, upload files in a commit, tag it, and read it back at a branch, tag or sha.

Everything lives in memory and on 127.0.0.1 only; files travel inline (no LFS or Xet storage), as
huggingface_hub sends small files. Tests start it with `serve()` and stop it with `server.shutdown()`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}
REPO = r"/api/(models|datasets|spaces)/([^/]+/[^/]+)"


@dataclass
class Repository:
    """Commits (sha → files, as path → bytes), branches and tags (name → sha)."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def at(self, revision: str) -> str | None:
        """The sha a branch, tag or sha names."""
        if revision in self.commits:
            return revision
        return self.branches.get(revision) or self.tags.get(revision)


def git_blob_sha(data: bytes) -> str:
    """The id the Hub gives a small file: its git blob sha1."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class Hub:
    """The repositories of one stand-in server, by (kind, id)."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repository] = {}
        self.lock = threading.Lock()

    def create(self, kind: str, repo_id: str) -> bool:
        with self.lock:
            if (kind, repo_id) in self.repos:
                return False
            first = hashlib.sha1(f"{kind}/{repo_id}/{time.time()}".encode()).hexdigest()
            self.repos[(kind, repo_id)] = Repository({first: {".gitattributes": b""}}, {"main": first})
            return True

    def commit(self, repo: Repository, branch: str, operations: list[dict[str, Any]]) -> str | None:
        """Apply NDJSON commit operations on top of `branch`; the new sha, or None for an unknown branch."""
        with self.lock:
            parent = repo.at(branch)
            if parent is None:
                return None
            files = dict(repo.commits[parent])
            for op in operations:
                key, value = op["key"], op["value"]
                if key == "file":
                    content = value["content"]
                    files[value["path"]] = (
                        base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                    )
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: b for p, b in files.items() if not p.startswith(prefix)}
            listing = sorted((p, git_blob_sha(b)) for p, b in files.items())
            sha = hashlib.sha1(json.dumps([parent, listing]).encode()).hexdigest()
            repo.commits[sha] = files
            repo.branches[branch if branch in repo.branches else "main"] = sha
            return sha


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub

    def log_message(self, *_: Any) -> None:  # quiet
        return None

    def _reply(self, status: int, body: Any = b"", kind: str = "application/json", headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _missing(self, what: str, code: str) -> None:
        self._reply(404, {"error": f"{what} not found"}, headers={"X-Error-Code": code, "X-Error-Message": what})

    def _repo(self, kind: str, repo_id: str) -> Repository | None:
        return self.hub.repos.get((KINDS.get(kind, kind), repo_id))

    def _payload(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = unquote(urlparse(self.path).path)
        if m := re.fullmatch(r"/(?:(models|datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            return self._file(m.group(1) or "models", m.group(2), m.group(3), m.group(4))
        if m := re.fullmatch(REPO + r"(?:/revision/([^/]+))?", path):
            return self._info(m.group(1), m.group(2), m.group(3) or "main")
        if m := re.fullmatch(REPO + r"/refs", path):
            return self._refs(m.group(1), m.group(2))
        if m := re.fullmatch(REPO + r"/tree/([^/]+)(?:/(.*))?", path):
            return self._tree(m.group(1), m.group(2), m.group(3), (m.group(4) or "").strip("/"))
        self._missing(path, "EntryNotFound")

    def _file(self, kind: str, repo_id: str, revision: str, name: str) -> None:
        repo = self._repo(kind, repo_id)
        sha = repo.at(revision) if repo else None
        if repo is None or sha is None:
            return self._missing("Repository or revision", "RevisionNotFound" if repo else "RepoNotFound")
        data = repo.commits[sha].get(name)
        if data is None:
            return self._missing(name, "EntryNotFound")
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha(data)}"'}
        self._reply(200, data, "application/octet-stream", headers)

    def _info(self, kind: str, repo_id: str, revision: str) -> None:
        repo = self._repo(kind, repo_id)
        sha = repo.at(revision) if repo else None
        if repo is None or sha is None:
            return self._missing("Repository or revision", "RevisionNotFound" if repo else "RepoNotFound")
        files = repo.commits[sha]
        siblings = [{"rfilename": p, "size": len(b), "blobId": git_blob_sha(b)} for p, b in sorted(files.items())]
        stamp = _now()
        self._reply(
            200,
            {"id": repo_id, "_id": repo_id, "sha": sha, "private": False, "gated": False, "disabled": False,
             "author": repo_id.split("/")[0], "lastModified": stamp, "createdAt": stamp, "tags": [],
             "downloads": 0, "likes": 0, "siblings": siblings},
        )  # fmt: skip

    def _refs(self, kind: str, repo_id: str) -> None:
        repo = self._repo(kind, repo_id)
        if repo is None:
            return self._missing("Repository", "RepoNotFound")
        refs = lambda named, prefix: [{"name": k, "ref": prefix + k, "targetCommit": v} for k, v in named.items()]  # noqa: E731
        self._reply(200, {"branches": refs(repo.branches, "refs/heads/"), "tags": refs(repo.tags, "refs/tags/")})

    def _tree(self, kind: str, repo_id: str, revision: str, prefix: str) -> None:
        repo = self._repo(kind, repo_id)
        sha = repo.at(revision) if repo else None
        if repo is None or sha is None:
            return self._missing("Repository or revision", "RevisionNotFound" if repo else "RepoNotFound")
        entries = [
            {"type": "file", "path": p, "size": len(b), "oid": git_blob_sha(b)}
            for p, b in sorted(repo.commits[sha].items())
            if not prefix or p.startswith(prefix + "/")
        ]
        self._reply(200, entries)

    def do_POST(self) -> None:
        path, body = unquote(urlparse(self.path).path), self._payload()
        if path == "/api/repos/create":
            asked = json.loads(body or b"{}")
            repo_id = (f"{asked['organization']}/" if asked.get("organization") else "") + asked["name"]
            kind = asked.get("type") or "model"
            if not self.hub.create(kind, repo_id):
                return self._reply(409, {"error": "You already created this repo", "url": repo_id})
            return self._reply(200, {"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id, "id": repo_id})
        if path == "/api/validate-yaml":
            return self._reply(200, {"errors": [], "warnings": []})
        if m := re.fullmatch(REPO + r"/preupload/([^/]+)", path):
            if self._repo(m.group(1), m.group(2)) is None:
                return self._missing("Repository", "RepoNotFound")
            files = json.loads(body).get("files", [])
            return self._reply(
                200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
            )
        if m := re.fullmatch(REPO + r"/commit/([^/]+)", path):
            repo = self._repo(m.group(1), m.group(2))
            if repo is None:
                return self._missing("Repository", "RepoNotFound")
            operations = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            if any(op["key"] not in ("header", "file", "deletedFile", "deletedFolder") for op in operations):
                return self._reply(400, {"error": "only inline files can be committed here"})
            sha = self.hub.commit(repo, m.group(3), [op for op in operations if op["key"] != "header"])
            if sha is None:
                return self._missing("Revision", "RevisionNotFound")
            url = f"http://{self.headers['Host']}/{m.group(2)}/commit/{sha}"
            return self._reply(200, {"commitUrl": url, "commitOid": sha, "commitMessage": "", "pullRequestUrl": None})
        if m := re.fullmatch(REPO + r"/tag/([^/]+)", path):
            repo = self._repo(m.group(1), m.group(2))
            sha = repo.at(m.group(3)) if repo else None
            if repo is None or sha is None:
                return self._missing("Repository or revision", "RevisionNotFound" if repo else "RepoNotFound")
            tag = json.loads(body or b"{}")["tag"]
            if tag in repo.tags:
                return self._reply(409, {"error": "tag exists"})
            repo.tags[tag] = sha
            return self._reply(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})
        self._missing(path, "EntryNotFound")


def serve(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """A running stand-in on 127.0.0.1 (a free port by default) and its base URL."""
    handler = type("BoundHandler", (Handler,), {"hub": Hub()})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
