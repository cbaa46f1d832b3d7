"""The web page in a real browser against the real stack: upload, palette, copy, gallery.

Debian's Chromium and chromedriver (``infra/ci/install-browser.sh``) driven by Selenium,
which is pointed at ``/usr/bin/chromedriver`` so Selenium Manager never downloads
anything. The page is served by the stack's api_stub and PUTs the file cross-origin to
SeaweedFS, so this also proves the presigned URL and CORS. Without Chromium the test is
skipped, except in CI (``CI=true``), where a missing browser is a failure.

``PALETTE_SAVE_SCREENSHOT=1`` writes the screenshot to ``docs/screenshot-web.png``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api_stub.web import GALLERY_TTL_S

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"
DOCS = Path(__file__).resolve().parents[2] / "docs"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
RESULT_TIMEOUT_S = 90.0
"""Upload, event, queue, k-means and render on a shared 2-core machine: seconds, usually."""

SETTLED = '#results li.result:not([data-status="uploading"])'


def _require_browser() -> None:
    """Skip without Chromium, chromedriver or Selenium, except in CI: there, fail."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    hint = "run infra/ci/install-browser.sh"
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium package")
        hint += " and pip install -e '.[test]'"
    if not missing:
        return
    reason = f"{', '.join(missing)} missing: {hint}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium with a fresh profile; closed even when the test fails."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never reach the network
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1500"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _by_css() -> Any:
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR


def _upload(driver: Any, path: Path, k: str | None = None) -> Any:
    """Choose a file like a user would (and first k, if given) and wait until its card
    settles; returns the card."""
    from selenium.webdriver.support.ui import Select, WebDriverWait

    if k is not None:
        Select(driver.find_element(_by_css(), "#k-select")).select_by_value(k)
    before = len(driver.find_elements(_by_css(), "#results li.result"))
    driver.find_element(_by_css(), "#file-input").send_keys(str(path))

    def settled(d: Any) -> Any:
        cards = d.find_elements(_by_css(), "#results li.result")
        if len(cards) <= before:
            return False
        newest = cards[0]
        state = newest.get_attribute("data-status")
        return newest if state in {"done", "failed", "error"} else False

    return WebDriverWait(driver, RESULT_TIMEOUT_S, poll_frequency=0.2).until(settled)


def _stored(stack: Any, key: str) -> dict[str, Any]:
    bucket = stack.settings.output_bucket
    body = stack.s3.get_object(Bucket=bucket, Key=key + ".json")["Body"].read()
    return dict(json.loads(body))


def _console_errors(driver: Any) -> list[str]:
    """SEVERE browser log lines: CSP violations, failed fetches, script errors."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot_path(tmp_path: Path) -> Path:
    if os.environ.get("PALETTE_SAVE_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS / "screenshot-web.png"
    return tmp_path / "screenshot-web.png"


def test_upload_through_the_page_shows_the_stored_palette(
    stack: Any, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(stack.api_url + "/")
    assert browser.title.startswith("palette-worker")

    # a non-image first: its failure is shown with the stable code
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"this is a text file, not a PNG")
    failed = _upload(browser, notes)
    assert failed.get_attribute("data-status") == "failed"
    assert failed.find_element(_by_css(), ".error code").text == "not_an_image"

    photo = tmp_path / "Chelsea the cat.jpg"
    shutil.copy(DATA / "chelsea.jpg", photo)
    browser.execute_script("window.__sameDocument = true")
    card = _upload(browser, photo, k="6")
    assert card.get_attribute("data-status") == "done", card.text
    key = card.get_attribute("data-key")
    _check_waited_with_long_polls(browser, key)
    assert key.startswith("uploads/")
    assert key.endswith("/Chelsea-the-cat.jpg")

    # the browser's PUT landed in the input bucket, byte for byte, with its type
    head = stack.s3.head_object(Bucket=stack.settings.input_bucket, Key=key)
    assert head["ContentLength"] == photo.stat().st_size
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"] == {"palette-k": "6"}  # the chooser's k, through the policy

    # the swatches are the stored document's colours, in its order, as many as chosen
    doc = _stored(stack, key)
    assert doc["status"] == "done"
    assert (doc["quality"]["k_requested"], doc["quality"]["k_returned"]) == (6, 6)
    assert card.find_element(_by_css(), ".card-k").text == "k 6 · 6 colours"
    swatches = card.find_elements(_by_css(), ".swatch")
    assert [s.get_attribute("data-hex") for s in swatches] == [c["hex"] for c in doc["colors"]]
    first = doc["colors"][0]
    assert f"{first['proportion'] * 100:.1f} %" in swatches[0].text
    assert first["name"]["css"] in swatches[0].text

    bar = card.find_element(_by_css(), "img.bar")
    assert browser.execute_script("return arguments[0].naturalWidth", bar) == 300

    _check_copy(browser, swatches[0], first["hex"])
    _check_gallery(browser, key)
    _check_gallery_thumbnail(browser, stack, key)
    _check_keyboard_opens_picker(browser)

    # a steady picture: no focus ring, no transient "Copied" state
    WebDriverWait(browser, 5).until(lambda d: not d.find_elements(_by_css(), ".swatch.copied"))
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    browser.save_screenshot(str(_screenshot_path(tmp_path)))
    assert _console_errors(browser) == []


def _check_copy(driver: Any, swatch: Any, hex_code: str) -> None:
    """Clicking a swatch copies its hex and shows it; the status region says so."""
    from selenium.webdriver.support.ui import WebDriverWait

    origin = driver.execute_script("return location.origin")
    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    swatch.click()
    WebDriverWait(driver, 5).until(lambda d: swatch.get_attribute("data-copied") == "true")
    assert "Copied" in swatch.text
    assert hex_code in driver.find_element(_by_css(), "#status").text
    copied = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, (e) => done('error: ' + e));"
    )
    assert copied == hex_code


def _check_gallery(driver: Any, key: str) -> None:
    """The new result tops the gallery at once, and the server's own listing agrees.

    The server reuses its listing for ``GALLERY_TTL_S``, so it may lag by that; the page
    keeps its own results meanwhile (and drops the copy once the server lists it).
    """
    from selenium.webdriver.support.ui import WebDriverWait

    assert driver.find_element(_by_css(), "#gallery li").get_attribute("data-key") == key
    deadline = time.monotonic() + 3 * GALLERY_TTL_S
    while True:
        driver.find_element(_by_css(), "#refresh").click()
        WebDriverWait(driver, 10).until(
            lambda d: d.find_element(_by_css(), "#gallery-status").text != "Loading…"
        )
        cards = driver.find_elements(_by_css(), '#gallery li:not([data-local="true"])')
        # S3 times have one-second resolution: results other tests wrote in the same
        # second may tie with ours, so "among the newest" rather than "first".
        newest = [card.get_attribute("data-key") for card in cards[:5]]
        if key in newest:
            return
        assert time.monotonic() < deadline, f"gallery starts with {newest!r}"
        time.sleep(1.0)


def _check_waited_with_long_polls(driver: Any, key: str) -> None:
    """The card filled in on the page the user uploaded from (no reload), and the page
    asked for the result with ``?wait=``, not by polling: a request or two, not one a
    second."""
    assert driver.execute_script("return window.__sameDocument") is True
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    quoted = "/palettes/" + "/".join(urllib.parse.quote(part, safe="") for part in key.split("/"))
    asked = [name for name in names if urllib.parse.urlsplit(name).path == quoted]
    assert asked, names
    assert all("wait=" in urllib.parse.urlsplit(name).query for name in asked), asked
    assert len(asked) <= 3, asked


def _check_gallery_thumbnail(driver: Any, stack: Any, key: str) -> None:
    """The server's gallery card shows the source image, fetched from the store with the
    presigned GET the listing handed out, beside its bar and swatches."""
    from selenium.webdriver.support.ui import WebDriverWait

    cards = driver.find_elements(_by_css(), '#gallery li:not([data-local="true"])')
    card = next(c for c in cards if c.get_attribute("data-key") == key)
    thumb = card.find_element(_by_css(), "img.thumb")
    loaded = "return arguments[0].complete && arguments[0].naturalWidth"
    WebDriverWait(driver, 15).until(lambda d: d.execute_script(loaded, thumb))
    width = driver.execute_script("return arguments[0].naturalWidth", thumb)
    assert width == 451  # chelsea.jpg as stored, not a stand-in
    src = thumb.get_attribute("src")
    assert src.startswith(f"{stack.settings.s3_endpoint}/{stack.settings.input_bucket}/")
    assert "X-Amz-Signature=" in src
    assert card.find_elements(_by_css(), "img.bar")
    assert card.find_elements(_by_css(), ".swatch")


def _check_keyboard_opens_picker(driver: Any) -> None:
    """Enter and Space on the focused drop zone open the file picker."""
    from selenium.webdriver.common.keys import Keys

    driver.execute_script(
        "window.__opened = 0;"
        "document.getElementById('file-input').click = () => { window.__opened += 1; };"
    )
    zone = driver.find_element(_by_css(), "#drop-zone")
    zone.send_keys(Keys.ENTER)
    zone.send_keys(Keys.SPACE)
    assert driver.execute_script("return window.__opened") == 2
    assert driver.execute_script("return document.activeElement.id") == "drop-zone"


DROP_A_PNG = """
const done = arguments[arguments.length - 1];
const canvas = Object.assign(document.createElement("canvas"), {width: 64, height: 32});
const context = canvas.getContext("2d");
context.fillStyle = "#1d4e89"; context.fillRect(0, 0, 48, 32);
context.fillStyle = "#f2c14e"; context.fillRect(48, 0, 16, 32);
canvas.toBlob((blob) => {
  const data = new DataTransfer();
  data.items.add(new File([blob], "dropped.png", {type: "image/png"}));
  const zone = document.getElementById("drop-zone");
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
  }
  done(true);
}, "image/png");
"""


def test_a_file_dropped_on_the_zone_is_uploaded(stack: Any, browser: Any) -> None:
    """The drop handler, fed a real DragEvent (a 3:1 two-colour PNG drawn in the page)."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(stack.api_url + "/")
    assert browser.execute_async_script(DROP_A_PNG) is True

    def settled(d: Any) -> Any:
        cards = d.find_elements(_by_css(), SETTLED)
        return cards[0] if cards else False

    card = WebDriverWait(browser, RESULT_TIMEOUT_S, poll_frequency=0.2).until(settled)
    assert card.get_attribute("data-status") == "done", card.text
    assert card.get_attribute("data-key").endswith("/dropped.png")
    hexes = [s.get_attribute("data-hex") for s in card.find_elements(_by_css(), ".swatch")]
    assert hexes == ["#1d4e89", "#f2c14e"]
    assert "drag-over" not in browser.find_element(_by_css(), "#drop-zone").get_attribute("class")
    assert _console_errors(browser) == []


@pytest.fixture
def guarded_api(stack: Any, tmp_path: Path) -> Iterator[str]:
    """A second api_stub on the same stack that demands the token on loopback too
    (``PALETTE_API_REQUIRE_TOKEN=1``: the page then behaves as it does beyond loopback)."""
    import subprocess
    import sys
    import urllib.request

    from infra.private_stack import free_port

    port = free_port()
    env = {**stack.env, "PALETTE_API_BIND": f"127.0.0.1:{port}", "PALETTE_API_REQUIRE_TOKEN": "1"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    log = (tmp_path / "guarded-api.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "api_stub"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except Exception:
                assert proc.poll() is None, (tmp_path / "guarded-api.log").read_text()
                assert time.monotonic() < deadline, "guarded api_stub did not start"
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_the_page_asks_for_the_token_once_and_keeps_it_for_the_session(
    stack: Any, guarded_api: str, browser: Any, tmp_path: Path
) -> None:
    """First 401: the token dialog; a wrong token is refused with a message; the right
    one goes to sessionStorage, the gallery loads, and an upload (bar via blob: URL
    fetched with the token) completes without another prompt; its gallery card shows
    the image through the presigned GET the guarded listing handed out."""
    from selenium.webdriver.support.ui import WebDriverWait

    token = stack.env["PALETTE_API_TOKEN"]
    browser.get(guarded_api + "/")
    dialog = browser.find_element(_by_css(), "#token-dialog")
    WebDriverWait(browser, 10).until(lambda d: dialog.get_attribute("open") is not None)
    field = browser.find_element(_by_css(), "#token-input")
    field.send_keys("not-the-token")
    browser.find_element(_by_css(), "#token-submit").click()
    WebDriverWait(browser, 10).until(
        lambda d: "refused" in d.find_element(_by_css(), "#token-message").text
    )
    assert dialog.get_attribute("open") is not None
    field.send_keys(token)
    browser.find_element(_by_css(), "#token-submit").click()
    WebDriverWait(browser, 10).until(lambda d: dialog.get_attribute("open") is None)
    stored = browser.execute_script("return sessionStorage.getItem('palette-api-token')")
    assert stored == token
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(_by_css(), "#gallery-status").text != "Loading…"
    )
    assert "Could not load" not in browser.find_element(_by_css(), "#gallery-status").text

    photo = tmp_path / "guarded.jpg"
    shutil.copy(DATA / "chelsea.jpg", photo)
    card = _upload(browser, photo)
    assert card.get_attribute("data-status") == "done", card.text
    bar = card.find_element(_by_css(), "img.bar")
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return arguments[0].naturalWidth", bar) == 300
    )
    assert bar.get_attribute("src").startswith("blob:")
    # the guarded listing hands out the thumbnail's presigned GET: no token on the <img>
    key = card.get_attribute("data-key")
    _check_gallery(browser, key)
    _check_gallery_thumbnail(browser, stack, key)
    assert dialog.get_attribute("open") is None  # asked once only
    # the only errors are the expected 401s before the token was given
    assert [e for e in _console_errors(browser) if "401" not in e] == []
