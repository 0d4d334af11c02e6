"""The pages' server against other sites and the network (SECURITY.md), over raw HTTP: a ``Host`` not on
its list (DNS rebinding) or given twice, cross-site browser requests, bodies that are not a JSON object of
at most 64 KiB sent as JSON (too deep, NaN, Infinity), events whose times are not finite JSON numbers,
framing and caching headers, the token a non-loopback ``--host`` needs and the cookie it becomes, the
addresses ``--host 0.0.0.0`` answers, one writer per labels file under any name. Each refusal is a 4xx
and one line, labels.csv byte-identical, the server still serving."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from respira import Detector
from respira.app.label_server import LabelServer
from respira.app.labelling import LabelSession

from .test_labelling import LABELS, write_site

JSON = {"Content-Type": "application/json"}
ANSWER = json.dumps({"index": 0, "answer": "crackle"}).encode()


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Served:
    server: LabelServer
    labels: Path

    @property
    def port(self) -> int:
        return urlsplit(self.server.url).port or 80

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()

    def refused(self, reply: Reply, status: int) -> str:
        """The one line of a refusal; labels.csv untouched and the server still answering."""
        assert reply.status == status, (reply.status, reply.body)
        text = reply.body.decode()
        assert "\n" not in text.strip() and "Traceback" not in text and text.strip()
        assert self.labels.read_text(encoding="utf-8") == LABELS
        assert self.request("GET", "/api/state").status == 200
        return text


@pytest.fixture(scope="module")
def detector(run_dir: Path) -> Detector:
    return Detector.from_pretrained(run_dir)


def _serve(detector: Detector, folder: Path, **server: object) -> LabelServer:
    labels = write_site(folder)
    session = LabelSession(labels, detector, model="tiny", minimum_units=4)
    return LabelServer(session, **server).start()  # type: ignore[arg-type]


@contextmanager
def _served(detector: Detector, folder: Path) -> Iterator[Served]:
    server = _serve(detector, folder, port=0)
    try:
        yield Served(server, folder / "labels.csv")
    finally:
        server.close()


@pytest.fixture(scope="module")
def served(detector: Detector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One page for the module's refusals and reads: each refusal checks that labels.csv is byte-identical
    (and the events' that there is no events.csv), so the next test finds the site as new."""
    with _served(detector, tmp_path_factory.mktemp("refusals") / "site") as page:
        yield page


@pytest.fixture
def fresh(detector: Detector, tmp_path: Path) -> Iterator[Served]:
    """A page of its own, for a test that writes or closes it."""
    with _served(detector, tmp_path / "site") as page:
        yield page


@pytest.mark.parametrize("path", ["/api/state", "/audio/0.wav", "/"])
def test_a_rebound_host_name_is_refused(served: Served, path: str) -> None:
    """DNS rebinding: evil.example resolving to 127.0.0.1 gets neither the state nor a recording."""
    reply = served.request("GET", path, headers={"Host": f"evil.example:{served.port}"})
    assert b"r0.wav" not in reply.body and b"RIFF" not in reply.body
    served.refused(reply, 400)
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert served.request("GET", path, headers={"Host": f"{host}:{served.port}"}).status == 200


def test_a_host_the_user_names_is_answered(detector: Detector, tmp_path: Path) -> None:
    from respira.app.options import LabelOptions

    server = _serve(
        detector, tmp_path / "site", options=LabelOptions(port=0, allowed_host="lab.example, ward")
    )
    try:
        check = Served(server, tmp_path / "site" / "labels.csv")
        for host, status in (("lab.example", 200), ("ward", 200), ("evil.example", 400)):
            assert check.request("GET", "/api/state", headers={"Host": host}).status == status, host
    finally:
        server.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # localhost:another-port is the same site, not the same origin
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"},
    ],
)
def test_a_cross_site_browser_request_is_refused(served: Served, headers: dict[str, str]) -> None:
    assert "refused" in served.refused(
        served.request("POST", "/api/answer", ANSWER, {**JSON, **headers}), 403
    )
    for path in ("/api/state", "/audio/0.wav", "/spectrogram/0.png"):
        reply = served.request("GET", path, headers=headers)
        assert b"r0.wav" not in reply.body and b"RIFF" not in reply.body and b"PNG" not in reply.body
        served.refused(reply, 403)


def test_the_page_its_own_requests_and_other_clients_are_served(fresh: Served) -> None:
    own = f"http://127.0.0.1:{fresh.port}"
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert fresh.request("GET", "/", headers=navigation).status == 200  # a link to the page opens it
    same = {"Sec-Fetch-Site": "same-origin", "Origin": own}
    assert fresh.request("GET", "/api/state", headers=same).status == 200
    assert fresh.request("GET", "/api/state").status == 200  # curl: no Origin, no Sec-Fetch-Site
    reply = fresh.request(
        "POST", "/api/events", json.dumps({"index": 0, "events": []}).encode(), {**JSON, **same}
    )
    assert reply.status == 200 and fresh.labels.read_text(encoding="utf-8") == LABELS


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", ANSWER),
        ("text/plain;charset=UTF-8", ANSWER),
        ("application/x-www-form-urlencoded", ANSWER),
        ("multipart/form-data; boundary=x", ANSWER),
        (None, ANSWER),
    ],
)
def test_only_json_bodies_are_taken(served: Served, content_type: str | None, body: bytes) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    served.refused(served.request("POST", "/api/answer", body, headers), 415)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"[]", "a JSON object"),
        (b"null", "a JSON object"),
        (b"123", "a JSON object"),
        (b'"index"', "a JSON object"),
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"index": true, "answer": "crackle"}', "index"),
        (b'{"index": "0", "answer": "crackle"}', "index"),
        (b'{"index": 0.0, "answer": "crackle"}', "index"),
        (b'{"answer": "crackle"}', "index"),
        (b'{"index": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested deeper than 16 levels"),  # < 64 KiB
        (b'{"index": 0, "answer": "x", "seen": ' + b"[" * 900 + b"]" * 900 + b"}", "deeper than 16 levels"),
        (b'{"index": 0, "answer": "crackle", "x": NaN}', "NaN is not a JSON number"),
        (b'{"index": 0, "answer": "crackle", "x": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"index": 0, "answer": "crackle", "x": 1e999}', "1e999 is too large for a number"),
    ],
)
def test_a_malformed_body_is_a_400_in_one_line(
    served: Served, body: bytes, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ("/api/answer", "/api/events"):
        assert said in served.refused(served.request("POST", path, body, JSON), 400)
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("event", "said"),
    [
        (
            {"onset": "0.5", "offset": 1, "type": "crackle"},
            "onset must be a finite number of seconds, not '0.5'",
        ),
        (
            {"onset": 0, "offset": "1", "type": "crackle"},
            "offset must be a finite number of seconds, not '1'",
        ),
        (
            {"onset": True, "offset": 1, "type": "crackle"},
            "onset must be a finite number of seconds, not True",
        ),
        (
            {"onset": 10**400, "offset": 1, "type": "crackle"},
            "need 0 <= onset < offset",
        ),  # clipped: no overflow
        ({"onset": -(10**400), "offset": 1, "type": "crackle"}, "need 0 <= onset < offset"),
        ({"offset": 1, "type": "crackle"}, "onset must be a finite number of seconds, not None"),
        (["onset", 0], "onset must be a finite number of seconds"),
    ],
)
def test_events_take_finite_json_numbers_only(
    served: Served, event: object, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps({"index": 0, "events": [event]}).encode()
    assert said in served.refused(served.request("POST", "/api/events", body, JSON), 400)
    assert not (served.labels.parent / "events.csv").exists()
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


def test_two_host_headers_are_refused(served: Served) -> None:
    """Over HTTP h11 refuses them; behind it, the page refuses them too rather than read the first."""
    import asyncio

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from respira.app.options import ServeOptions
    from respira.app.serving import page_app

    for hosts in (["127.0.0.1", "evil.example"], ["evil.example", "127.0.0.1"], ["127.0.0.1", "127.0.0.1"]):
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
        try:
            connection.putrequest("GET", "/api/state", skip_host=True)
            for host in hosts:
                connection.putheader("Host", f"{host}:{served.port}")
            connection.endheaders()
            response = connection.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        finally:
            connection.close()
        assert b"r0.wav" not in reply.body
        served.refused(reply, 400)

        app = page_app([Route("/", lambda request: PlainTextResponse("served"))], ServeOptions(), token=None)
        scope = {
            "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/",
            "raw_path": b"/", "query_string": b"", "root_path": "", "server": ("127.0.0.1", 7860),
            "client": ("127.0.0.1", 5000), "headers": [(b"host", host.encode()) for host in hosts],
        }  # fmt: skip
        sent = asyncio.run(_asgi(app, scope))
        assert (sent[0]["status"], sent[1]["body"]) == (
            400,
            b"the request has several Host headers: send one",
        )


async def _asgi(app: Any, scope: dict) -> list[dict]:
    """The messages ``app`` sends for a request of ``scope`` without a body."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_one_writer_per_labels_file_under_any_name(fresh: Served) -> None:
    """A hard link or a symbolic link of labels.csv, under another name, is the same file: refused while the
    page writes it, also once an answer replaced the file (a new inode) and a link is made then."""
    from respira.data.labels_csv import LabelsBusyError, hold_labels

    folder = fresh.labels.parent
    (folder / "hard.csv").hardlink_to(fresh.labels)
    (folder / "soft.csv").symlink_to("hard.csv")
    for name in ("hard.csv", "soft.csv", "labels.csv"):
        with pytest.raises(LabelsBusyError, match="is being written by another process"):
            hold_labels(folder / name)
    assert fresh.request("POST", "/api/answer", ANSWER, JSON).status == 200  # labels.csv replaced
    (folder / "later.csv").hardlink_to(fresh.labels)
    with pytest.raises(LabelsBusyError, match="under another name: a hard link or symbolic link of it"):
        hold_labels(folder / "later.csv")
    fresh.server.close()
    hold_labels(folder / "later.csv").release()  # the page gone: a writer may start


def test_a_body_over_the_limit_is_refused_unread(served: Served) -> None:
    big = json.dumps({"index": 0, "answer": "crackle", "pad": "x" * 70_000}).encode()
    served.refused(served.request("POST", "/api/answer", big, JSON), 413)
    # a 200 MB body announced: refused on its Content-Length, before any of it is read
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    try:
        connection.putrequest("POST", "/api/answer")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(200 * 2**20))
        connection.endheaders()
        connection.send(ANSWER)
        assert connection.getresponse().status == 413
    finally:
        connection.close()
    assert served.labels.read_text(encoding="utf-8") == LABELS
    assert served.request("GET", "/api/state").status == 200


@pytest.mark.parametrize("length", ["-1", "abc", "1e3"])
def test_a_bad_content_length_is_a_400_without_holding_a_thread(served: Served, length: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=20)
    try:
        connection.putrequest("POST", "/api/answer")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", length)
        connection.endheaders()  # and no body: the old server waited for one until the client left
        reply = connection.getresponse()
        served.refused(Reply(reply.status, reply.headers, reply.read()), 400)
    finally:
        connection.close()


SECURITY = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("GET", "/", None, {}),
        ("GET", "/label.js", None, {}),
        ("GET", "/api/state", None, {}),
        ("GET", "/audio/0.wav", None, {}),
        ("GET", "/spectrogram/0.png", None, {}),
        ("GET", "/audio/99.wav", None, {}),
        ("GET", "/nothing", None, {}),
        ("GET", "/api/state", None, {"Host": "evil.example"}),
        ("GET", "/api/state", None, {"Sec-Fetch-Site": "cross-site"}),
        ("POST", "/api/answer", b"[]", JSON),
    ],
)
def test_every_answer_forbids_framing_sniffing_referrers_and_caching(
    served: Served, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> None:
    reply = served.request(method, path, body, headers)
    assert {name: reply.headers.get(name) for name in SECURITY} == SECURITY, reply.status
    assert reply.headers.get("Cache-Control") == "no-store", reply.status


def test_the_app_page_keeps_its_isolation_and_forbids_framing(tmp_path: Path) -> None:
    from respira.app.options import ServeOptions
    from respira.app.serving import ISOLATION_HEADERS, folder_server

    (tmp_path / "index.html").write_text("<title>page</title>")
    server = folder_server(tmp_path, ServeOptions(port=0)).start()
    try:
        for path, status in (("/", 200), ("/index.html", 200), ("/missing.js", 404)):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            connection.request("GET", path)
            reply = connection.getresponse()
            assert reply.status == status
            expected = {**SECURITY, **ISOLATION_HEADERS}
            assert {name: reply.headers.get(name) for name in expected} == expected
            connection.close()
    finally:
        server.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("ward.example", False),
    ],
)
def test_a_token_is_needed_unless_the_host_is_loopback(host: str, loopback: bool) -> None:
    from respira.app.serving import is_loopback

    assert is_loopback(host) is loopback


def test_an_exposed_server_answers_only_with_its_token(detector: Detector, tmp_path: Path) -> None:
    server = _serve(detector, tmp_path / "site", port=0, exposed=True)
    check = Served(server, tmp_path / "site" / "labels.csv")
    try:
        token = server.token
        assert token and len(token) >= 32 and server.url.endswith(f"/?token={token}")

        def request(method: str, path: str, body: bytes | None = None, **headers: str) -> Reply:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return Reply(response.status, response.headers, response.read())
            finally:
                connection.close()

        for path in ("/", "/api/state", "/audio/0.wav", f"/api/state?token={token[:-1]}"):
            reply = request("GET", path)
            assert reply.status == 403 and b"token" in reply.body and b"r0.wav" not in reply.body, path
        assert request("POST", "/api/answer", ANSWER, **JSON).status == 403
        assert request("GET", "/", Cookie=f"respira-token-{server.port}=wrong").status == 403
        opened = request("GET", f"/?token={token}")  # the token's page: the cookie, then on without it
        assert opened.status == 200 and b"label.js" not in opened.body
        assert b'<meta http-equiv="refresh" content="0; url=/">' in opened.body
        assert opened.headers["Cache-Control"] == "no-store"
        cookie = opened.headers["Set-Cookie"]
        assert cookie.startswith(f"respira-token-{server.port}={token};")
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "Path=/" in cookie
        jar = cookie.split(";")[0]
        page = request("GET", "/", Cookie=jar)
        assert page.status == 200 and b"label.js" in page.body and "Set-Cookie" not in page.headers
        for path, target in (
            (f"/api/state?token={token}&x=1", "/api/state?x=1"),
            (f"//evil.example/?token={token}", "/evil.example/"),  # never another site's address
            (f"/?token={token}&a=%22%3E", "/?a=%22%3E"),
        ):
            entered = request("GET", path)
            assert f'content="0; url={target}">'.encode() in entered.body, (path, entered.body)
        assert request("GET", f"/api/state?token={token}", **{"Sec-Fetch-Dest": "empty"}).status == 200
        assert request("GET", "/api/state", Cookie=jar).status == 200
        assert check.labels.read_text(encoding="utf-8") == LABELS
        assert request("POST", "/api/answer", ANSWER, Cookie=jar, **JSON).status == 200
        assert check.labels.read_text(encoding="utf-8") != LABELS
    finally:
        server.close()


def test_respira_label_on_the_network_says_so_and_prints_its_token_once(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's words for a non-loopback ``--host``: here 127.0.0.1 taken for one (this test binds
    nothing else), the page never served."""
    from respira.app import serving
    from respira.cli import main

    labels = write_site(tmp_path / "site")
    monkeypatch.setattr(serving, "is_loopback", lambda host: False)

    def interrupted(self: serving.PageServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(serving.PageServer, "serve", interrupted)
    assert main(["label", str(run_dir), str(labels.parent), "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("?token=") == 1
    assert "patients' recordings are served to the network on 127.0.0.1" in out
    assert labels.read_text(encoding="utf-8") == LABELS


FAKE_INTERFACES = {
    "lo": [("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")],
    "eth0": [("AF_INET", "192.0.2.7"), ("AF_INET6", "fe80::7%eth0"), ("AF_INET6", "2001:db8::7")],
}


@pytest.fixture
def interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's addresses, as psutil would list them: loopback, one IPv4, a link-local and a global
    IPv6."""
    import socket
    from types import SimpleNamespace

    import psutil

    listed = {
        name: [
            SimpleNamespace(family=getattr(socket, family), address=address) for family, address in entries
        ]
        for name, entries in FAKE_INTERFACES.items()
    }
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: listed)


@pytest.mark.usefixtures("interfaces")
def test_every_address_means_the_machines_usable_ones() -> None:
    from respira.app.options import ServeOptions
    from respira.app.serving import allowed_hosts, usable_addresses

    assert usable_addresses("0.0.0.0") == ["192.0.2.7"]
    assert usable_addresses("::") == ["192.0.2.7", "2001:db8::7"]  # dual stack; never the link-local one
    assert usable_addresses("192.0.2.9") == ["192.0.2.9"] and usable_addresses("ward") == ["ward"]
    hosts = allowed_hosts(ServeOptions(host="0.0.0.0", allowed_host="ward.example"))
    assert "0.0.0.0" not in hosts and {"192.0.2.7", "ward.example", "localhost"} <= set(hosts)


@pytest.mark.usefixtures("interfaces")
def test_a_page_on_every_address_is_reached_at_the_machines_addresses_and_allowed_names(
    detector: Detector, tmp_path: Path
) -> None:
    """``--host 0.0.0.0`` (bound here to loopback only, to open nothing): its URL is a usable address, and
    a name reaches it only once --allowed_host gives it."""
    import socket

    from respira.app.options import LabelOptions

    for allowed, ward in ((None, 400), ("ward.example", 200)):
        bound = socket.create_server(("127.0.0.1", 0))
        options = LabelOptions(host="0.0.0.0", port=0, allowed_host=allowed)
        labels = write_site(tmp_path / f"site-{ward}")
        server = LabelServer(LabelSession(labels, detector, model="tiny", minimum_units=4), options, bound)
        server.start()
        try:
            assert server.url == f"http://192.0.2.7:{server.port}/?token={server.token}"
            assert server.reach == (
                f"it listens on every address: open http://192.0.2.7:{server.port}/; by any other name, the "
                "machine's say, only once --allowed_host gives it"
            )
            check = Served(server, labels)
            cookie = {"Cookie": f"respira-token-{server.port}={server.token}"}
            for host, status in (("192.0.2.7", 200), ("0.0.0.0", 400), ("ward.example", ward)):
                reply = check.request(
                    "GET", "/api/state", headers={"Host": f"{host}:{server.port}", **cookie}
                )
                assert reply.status == status, host
        finally:
            server.close()


@pytest.mark.usefixtures("interfaces")
def test_respira_label_on_every_address_prints_a_usable_address_and_what_a_name_needs(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.app import label_server, serving
    from respira.cli import main

    labels = write_site(tmp_path / "site")

    def interrupted(self: serving.PageServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(serving.PageServer, "serve", interrupted)
    monkeypatch.setattr(label_server, "listen", lambda host, port: socket_on_loopback())  # opens nothing
    assert main(["label", str(run_dir), str(labels.parent), "--host", "0.0.0.0", "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("?token=") == 1 and "http://0.0.0.0" not in out
    assert " on http://192.0.2.7:" in out
    assert "by any other name, the machine's say, only once --allowed_host gives it" in out


def socket_on_loopback() -> object:
    import socket

    return socket.create_server(("127.0.0.1", 0))
