"""Another site against the labelling page, in a real browser (Debian's chromium through Selenium): a page
served from another origin (127.0.0.2, another port, by a plain static host as any site would be) tries
to write an answer (a no-cors ``text/plain`` fetch and a hidden ``enctype=text/plain`` form), to read the
state and a recording, and to frame the page; labels.csv stays byte-identical, nothing is read, the frame
stays empty. A page served to the network, opened with its token (typed, or a link on another site):
the token becomes a cookie and leaves the address bar and the history, and the page works."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from respira import Detector
from respira.app.label_server import LabelServer
from respira.app.labelling import LabelSession

from .test_labelling import LABELS, write_site

ATTACK = """<!doctype html><title>another site</title>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink" action="LABEL/api/answer">
<input name='{"index": 1, "answer": "crackle", "x": "' value='"}'></form>
<iframe id="framed" src="LABEL"></iframe>
<script>
const label = "LABEL", report = {};
async function read(path) {
  try {
    const response = await fetch(label + path);
    return `read ${(await response.arrayBuffer()).byteLength} bytes (${response.status})`;
  } catch (error) { return "blocked"; }
}
(async () => {
  try {
    await fetch(label + "api/answer", {method: "POST", mode: "no-cors",
      headers: {"Content-Type": "text/plain"}, body: JSON.stringify({index: 0, answer: "crackle"})});
    report.write = "sent";
  } catch (error) { report.write = "blocked"; }
  document.getElementById("form").submit();
  report.state = await read("api/state");
  report.audio = await read("audio/0.wav");
  window.report = report;
})();
</script>"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_another_site_can_neither_write_nor_read_nor_frame_the_page(
    browser: Any, run_dir: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    labels = write_site(tmp_path / "site")
    session = LabelSession(labels, Detector.from_pretrained(run_dir), model="tiny", minimum_units=4)
    server = LabelServer(session, port=0).start()
    (tmp_path / "attacker").mkdir()
    (tmp_path / "attacker" / "index.html").write_text(ATTACK.replace("LABEL", server.url))
    handler = functools.partial(_Quiet, directory=str(tmp_path / "attacker"))
    attacker = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.2:{attacker.server_address[1]}/index.html")
        deadline = time.monotonic() + 60
        while (report := browser.execute_script("return window.report")) is None:
            assert time.monotonic() < deadline, "the attacking page never finished"
            time.sleep(0.1)
        time.sleep(1)  # the form's and the frame's requests land
        browser.switch_to.frame(browser.find_element(By.ID, "framed"))
        framed = bool(browser.find_elements(By.ID, "recording"))  # the label page inside the frame
        browser.switch_to.default_content()
    finally:
        attacker.shutdown()
        server.close()
    seen = {**report, "framed": framed, "labels.csv unchanged": labels.read_text(encoding="utf-8") == LABELS}
    assert seen == {
        "write": "sent",  # no-cors: sent, its answer opaque; the server refused it
        "state": "blocked",
        "audio": "blocked",
        "framed": False,
        "labels.csv unchanged": True,
    }


def _page_shows_its_first_recording(browser: Any, server: LabelServer) -> None:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + 60
    while "r0.wav" not in browser.find_element(By.ID, "recording").text:
        assert time.monotonic() < deadline, f"the page never showed a recording ({browser.current_url})"
        time.sleep(0.2)
    fetched = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('api/state').then(r => done(r.status), e => done(String(e)));"
    )
    assert fetched == 200  # the page's own requests carry the cookie
    assert browser.current_url == f"http://127.0.0.1:{server.port}/"  # the token is gone from the address
    assert server.token not in browser.execute_script("return document.cookie + location.href")  # HttpOnly


@pytest.mark.parametrize("opened", ["typed", "a link on another site"])
def test_the_token_becomes_a_cookie_and_leaves_the_address_bar(
    browser: Any, run_dir: Path, tmp_path: Path, opened: str
) -> None:
    """A page served to the network, opened with its token: the page works, the address bar and the
    history hold no token; also when the URL is a link followed from another site (a strict cookie is not
    sent on a redirect of such a navigation: the page's own refresh is same-site)."""
    from selenium.webdriver.common.by import By

    labels = write_site(tmp_path / "site")
    session = LabelSession(labels, Detector.from_pretrained(run_dir), model="tiny", minimum_units=4)
    server = LabelServer(session, port=0, exposed=True).start()
    attacker = None
    try:
        before = browser.execute_script("return history.length")
        if opened == "typed":
            browser.get(server.url)
        else:
            (tmp_path / "elsewhere").mkdir()
            (tmp_path / "elsewhere" / "index.html").write_text(f'<a id="go" href="{server.url}">labels</a>')
            handler = functools.partial(_Quiet, directory=str(tmp_path / "elsewhere"))
            attacker = http.server.ThreadingHTTPServer(("127.0.0.2", 0), handler)
            threading.Thread(target=attacker.serve_forever, daemon=True).start()
            browser.get(f"http://127.0.0.2:{attacker.server_address[1]}/index.html")
            browser.find_element(By.ID, "go").click()
            before += 1
        _page_shows_its_first_recording(browser, server)
        assert browser.execute_script("return history.length") == before + 1  # the token's entry replaced
        browser.refresh()  # the cookie alone opens it again
        _page_shows_its_first_recording(browser, server)
    finally:
        if attacker is not None:
            attacker.shutdown()
        server.close()
