"""The pages' server against other sites and the network (SECURITY.md), over raw HTTP: a ``Host`` not on
its list (DNS rebinding), cross-site browser requests, bodies that are not a JSON object of at most 64 KiB
sent as JSON, framing and caching headers, and the token a non-loopback ``--host`` needs. Each refusal is
a 4xx and one line, labels.csv byte-identical, the server still serving."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


@pytest.fixture
def served(detector: Detector, tmp_path: Path) -> Iterator[Served]:
    server = _serve(detector, tmp_path / "site", port=0)
    try:
        yield Served(server, tmp_path / "site" / "labels.csv")
    finally:
        server.close()


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


def test_the_page_its_own_requests_and_other_clients_are_served(served: Served) -> None:
    own = f"http://127.0.0.1:{served.port}"
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert served.request("GET", "/", headers=navigation).status == 200  # a link to the page opens it
    same = {"Sec-Fetch-Site": "same-origin", "Origin": own}
    assert served.request("GET", "/api/state", headers=same).status == 200
    assert served.request("GET", "/api/state").status == 200  # curl: no Origin, no Sec-Fetch-Site
    reply = served.request(
        "POST", "/api/events", json.dumps({"index": 0, "events": []}).encode(), {**JSON, **same}
    )
    assert reply.status == 200 and served.labels.read_text(encoding="utf-8") == LABELS


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
    ],
)
def test_a_malformed_body_is_a_400_in_one_line(served: Served, body: bytes, said: str) -> None:
    for path in ("/api/answer", "/api/events"):
        assert said in served.refused(served.request("POST", path, body, JSON), 400)


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
        opened = request("GET", f"/?token={token}")
        assert opened.status == 200 and b"label.js" in opened.body
        cookie = opened.headers["Set-Cookie"]
        assert cookie.startswith(f"respira-token-{server.port}={token};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = cookie.split(";")[0]
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
