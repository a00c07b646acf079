"""A small in-memory Hugging Face Hub for the tests: the endpoints `huggingface_hub.HfApi` calls to publish a family.

No usable local Hub server exists on PyPI (hf-local-hub ships without its server; olah is a read-only mirror), so the
tests start this one on 127.0.0.1 and point the real client at it (``HfApi(endpoint=...)`` / ``HF_ENDPOINT``). It keeps
git-like state: repos with branches pointing at commits, each commit a full snapshot of the files. Uploads are always
"regular" (base64 inside the commit payload), so no LFS or Xet storage is needed; the preupload answer carries each
existing file's git blob id, which is what lets the client skip unchanged files and make no commit when nothing changed.

Served (model repos only):
  POST /api/repos/create, GET /api/models/{repo}[/revision/{rev}], POST /api/validate-yaml,
  POST /api/models/{repo}/preupload/{rev}, POST /api/models/{repo}/commit/{rev}, POST /api/models/{repo}/branch/{name},
  GET /api/models/{repo}/refs, GET /api/models/{repo}/tree/{rev}[/{path}], GET /api/models/{repo}/commits/{rev},
  GET /api/whoami-v2, POST /api/collections, GET /api/collections/{slug}, POST /api/collections/{slug}/items,
  HEAD/GET /{repo}/resolve/{rev}/{path} (so ``from_pretrained`` can download what was pushed).

Tests can inspect ``server.state`` directly, read ``server.requests`` (method, path, authenticated) and inject one
failure with ``server.fail_once(method, path_substring, status)``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

USER = "tester"
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_id(content: bytes) -> str:
    """The id git gives a file's content (what the Hub returns as a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, bytes]
    title: str
    message: str
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)

    def head(self, revision: str) -> Commit | None:
        oid = self.branches.get(revision, revision if revision in self.commits else None)
        return self.commits.get(oid) if oid else None

    def history(self, revision: str) -> list[Commit]:
        """Commits reachable from ``revision``, newest first."""
        commit, out = self.head(revision), []
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


@dataclass
class Collection:
    slug: str
    title: str
    namespace: str
    private: bool
    description: str | None
    items: list[dict] = field(default_factory=list)


@dataclass
class HubState:
    tokens: set[str]
    repos: dict[str, Repo] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_oid(self, seed: str) -> str:
        return hashlib.sha1(f"{next(self._counter)}:{seed}".encode()).hexdigest()

    def commit(self, repo: Repo, branch: str, files: dict[str, bytes], title: str, message: str = "") -> Commit:
        parent = repo.branches.get(branch)
        commit = Commit(self.new_oid(repo.repo_id + title), parent, files, title, message, _now())
        repo.commits[commit.oid] = commit
        repo.branches[branch] = commit.oid
        return commit


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


def _collection_json(collection: Collection) -> dict:
    return {"slug": collection.slug, "title": collection.title, "description": collection.description,
            "owner": {"name": collection.namespace, "type": "org"}, "items": collection.items,
            "lastUpdated": _now(), "position": 0, "private": collection.private, "theme": "indigo", "upvotes": 0}


class _Handler(BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------------------------------------- plumbing
    def log_message(self, format, *args):
        return

    def _token(self) -> str | None:
        header = self.headers.get("authorization") or ""
        return header[7:] if header.lower().startswith("bearer ") else None

    def _require_token(self) -> None:
        token = self._token()
        if token is None:
            raise _HttpError(401, "Invalid username or password.")
        if token not in self.server.state.tokens:
            raise _HttpError(401, "Invalid credentials in Authorization header")

    def _body(self) -> bytes:
        return self._raw_body

    def _json_body(self) -> dict:
        data = self._body()
        return json.loads(data) if data else {}

    def _send(self, status: int, payload=None, *, headers: dict | None = None, raw: bytes | None = None,
              head: bool = False) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        self.server.requests.append((method, path, self._token() is not None))
        # Read the whole body first: an answer sent before it is consumed would leave it to be parsed as a request.
        length = int(self.headers.get("content-length") or 0)
        self._raw_body = self.rfile.read(length) if length else b""
        try:
            status = self.server.take_failure(method, path)
            if status:
                raise _HttpError(status, "Injected failure for the test")
            handled = self.server.route(self, method, path, query)
            if not handled:
                raise _HttpError(404, f"No route for {method} {path}")
        except _HttpError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, err.body or {"error": err.message}, headers=headers, head=method == "HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_HEAD(self):
        self._dispatch("HEAD")


class HubServer(ThreadingHTTPServer):
    """``with HubServer(tokens={"hf_fake"}) as hub: HfApi(endpoint=hub.url, token="hf_fake")...``"""

    daemon_threads = True

    def __init__(self, *, tokens: set[str]):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = HubState(tokens=set(tokens))
        self.requests: list[tuple[str, str, bool]] = []
        self._failures: list[tuple[str, str, int]] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> HubServer:  # noqa: PYI034 - typing.Self needs Python 3.11; the package supports 3.10
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    # ------------------------------------------------------------------------------------------------ test hooks
    def fail_once(self, method: str, path_contains: str, status: int = 500) -> None:
        self._failures.append((method, path_contains, status))

    def take_failure(self, method: str, path: str) -> int | None:
        for index, (m, needle, status) in enumerate(self._failures):
            if m == method and needle in path:
                del self._failures[index]
                return status
        return None

    def commit_count(self, repo_id: str) -> int:
        """All commits in a repo, on every branch (the initial commit included)."""
        return len(self.state.repos[repo_id].commits)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        return dict(self.state.repos[repo_id].head(revision).files)

    # ---------------------------------------------------------------------------------------------------- routes
    def route(self, h: _Handler, method: str, path: str, query: dict) -> bool:
        routes = [
            ("POST", r"/api/repos/create", self._create_repo),
            ("GET", r"/api/whoami-v2", self._whoami),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("POST", r"/api/collections", self._create_collection),
            ("POST", r"/api/collections/(?P<slug>.+)/items", self._add_collection_item),
            ("GET", r"/api/collections/(?P<slug>.+)", self._get_collection),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>.+)", self._preupload),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>.+)", self._commit),
            ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/branch/(?P<branch>.+)", self._create_branch),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/refs", self._refs),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/commits/(?P<rev>.+)", self._commits),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<sub>.*))?", self._tree),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>.+)", self._model_info),
            ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)", self._model_info),
            ("GET", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
            ("HEAD", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", self._resolve),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if route_method == method and match:
                with self.state.lock:
                    handler(h, query=query, **match.groupdict())
                return True
        return False

    def _repo(self, h: _Handler, repo_id: str, *, write: bool = False) -> Repo:
        repo = self.state.repos.get(repo_id)
        token = h._token()
        if write:
            h._require_token()
        if repo is None or (repo.private and token not in self.state.tokens):
            raise _HttpError(404, "Repository not found", code="RepoNotFound")
        return repo

    def _commit_of(self, repo: Repo, revision: str) -> Commit:
        commit = repo.head(revision)
        if commit is None:
            raise _HttpError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return commit

    def _whoami(self, h, query):
        h._require_token()
        h._send(200, {"type": "user", "name": USER, "fullname": "Test User", "orgs": [], "auth": {"type": "access_token"}})

    def _create_repo(self, h, query):
        h._require_token()
        body = h._json_body()
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        if repo_id in self.state.repos:
            raise _HttpError(409, "You already created this model repo", body={"error": "You already created this model repo",
                                                                               "url": f"{self.url}/{repo_id}"})
        repo = Repo(repo_id, private=body.get("visibility") == "private" or bool(body.get("private")))
        self.state.repos[repo_id] = repo
        self.state.commit(repo, "main", {".gitattributes": GITATTRIBUTES}, "initial commit")
        h._send(200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id})

    def _model_info(self, h, query, repo, rev="main"):
        found = self._repo(h, repo)
        commit = self._commit_of(found, rev)
        h._send(200, {"id": repo, "modelId": repo, "sha": commit.oid, "private": found.private,
                      "lastModified": commit.date, "siblings": [{"rfilename": name} for name in sorted(commit.files)]})

    def _validate_yaml(self, h, query):
        content = h._json_body().get("content", "")
        match = re.match(r"^---\n(.*?)\n---", content, flags=re.DOTALL)
        if match:
            try:
                meta = yaml.safe_load(match.group(1))
            except yaml.YAMLError as err:
                raise _HttpError(400, "Invalid YAML", body={"errors": [{"message": str(err)}]})
            if meta is not None and not isinstance(meta, dict):
                raise _HttpError(400, "Invalid YAML", body={"errors": [{"message": "metadata must be a mapping"}]})
            if isinstance(meta, dict) and "model-index" in meta and not isinstance(meta["model-index"], list):
                raise _HttpError(400, "Invalid YAML", body={"errors": [{"message": "model-index must be a list"}]})
        h._send(200, {"errors": [], "warnings": []})

    def _preupload(self, h, query, repo, rev):
        found = self._repo(h, repo, write=True)
        existing = found.head(rev).files if found.head(rev) else {}
        files = []
        for item in h._json_body().get("files", []):
            current = existing.get(item["path"])
            files.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
                          "oid": git_blob_id(current) if current is not None else None})
        h._send(200, {"files": files, "commitOid": found.branches.get(rev)})

    def _commit(self, h, query, repo, rev):
        found = self._repo(h, repo, write=True)
        lines = [json.loads(line) for line in h._body().splitlines() if line.strip()]
        base = self._commit_of(found, rev)
        files = dict(base.files)
        header = {}
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                header = value
                parent = value.get("parentCommit")
                if parent and parent != base.oid:
                    raise _HttpError(412, "Parent commit does not match the branch head")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {k: v for k, v in files.items() if not k.startswith(prefix)}
            else:
                raise _HttpError(400, f"This test server takes regular files only, got a '{key}' operation")
        commit = self.state.commit(found, rev, files, header.get("summary", ""), header.get("description", ""))
        h._send(200, {"success": True, "commitOid": commit.oid, "commitUrl": f"{self.url}/{repo}/commit/{commit.oid}"})

    def _create_branch(self, h, query, repo, branch):
        found = self._repo(h, repo, write=True)
        if branch in found.branches:
            raise _HttpError(409, f"Reference already exists: refs/heads/{branch}")
        start = h._json_body().get("startingPoint") or "main"
        found.branches[branch] = self._commit_of(found, start).oid
        h._send(200, {})

    def _refs(self, h, query, repo):
        found = self._repo(h, repo)
        branches = [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
                    for name, oid in sorted(found.branches.items())]
        h._send(200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def _commits(self, h, query, repo, rev):
        found = self._repo(h, repo)
        self._commit_of(found, rev)
        h._send(200, [{"id": c.oid, "authors": [{"user": USER}], "date": c.date, "title": c.title, "message": c.message}
                      for c in found.history(rev)])

    def _tree(self, h, query, repo, rev, sub=None):
        found = self._repo(h, repo)
        commit = self._commit_of(found, rev)
        prefix = (sub.strip("/") + "/") if sub else ""
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        entries, folders = [], set()
        for name in sorted(commit.files):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/", 1)[0])
                continue
            content = commit.files[name]
            entries.append({"type": "file", "path": name, "size": len(content), "oid": git_blob_id(content)})
        entries += [{"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()}
                    for folder in sorted(folders)]
        h._send(200, entries)

    def _resolve(self, h, query, repo, rev, file):
        found = self._repo(h, repo)
        commit = self._commit_of(found, rev)
        if file not in commit.files:
            raise _HttpError(404, "Entry not found", code="EntryNotFound")
        content = commit.files[file]
        headers = {"ETag": f'"{git_blob_id(content)}"', "X-Repo-Commit": commit.oid}
        h._send(200, raw=content, headers=headers, head=h.command == "HEAD")

    def _create_collection(self, h, query):
        h._require_token()
        body = h._json_body()
        namespace, title = body["namespace"], body["title"]
        for collection in self.state.collections.values():
            if collection.namespace == namespace and collection.title == title:
                raise _HttpError(409, "Collection already exists", body={"error": "Collection already exists",
                                                                         "slug": collection.slug})
        slug = f"{namespace}/{re.sub(r'[^a-z0-9]+', '-', title.lower()).strip('-')}-{self.state.new_oid(title)[:24]}"
        collection = Collection(slug, title, namespace, bool(body.get("private")), body.get("description"))
        self.state.collections[slug] = collection
        h._send(200, _collection_json(collection))

    def _get_collection(self, h, query, slug):
        collection = self.state.collections.get(slug)
        if collection is None:
            raise _HttpError(404, "Collection not found")
        h._send(200, _collection_json(collection))

    def _add_collection_item(self, h, query, slug):
        h._require_token()
        collection = self.state.collections.get(slug)
        if collection is None:
            raise _HttpError(404, "Collection not found")
        body = h._json_body()
        item = body["item"]
        if item["type"] == "model" and item["id"] not in self.state.repos:
            raise _HttpError(404, f"Model {item['id']} not found")
        if any(existing["id"] == item["id"] and existing["type"] == item["type"] for existing in collection.items):
            raise _HttpError(409, "Item already in collection")
        entry = {"_id": self.state.new_oid(item["id"])[:24], "id": item["id"], "type": item["type"],
                 "position": len(collection.items)}
        if body.get("note"):
            entry["note"] = {"text": body["note"], "html": body["note"]}
        collection.items.append(entry)
        h._send(200, _collection_json(collection))
