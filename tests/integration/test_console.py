"""The web console in a real browser: headless Chromium (Debian's, driven by python3-selenium
through chromedriver) loads it from droverd, takes a token, defines and starts a service with
the form, sees it online, reads the line it logged, stops it, and looks at the processes and
sessions pages, with no script error and no Content-Security-Policy violation. A screenshot of
each page is kept in the build directory (DROVER_SCREENSHOTS=DIR puts them elsewhere; the
README's docs/console.png is the overview's, made by DROVER_SCREENSHOTS=docs/shots)."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import BUILD, ROOT
from test_connect import SERVICES, call, connect_droverd, ok

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are needed (scripts/install-deps installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,1000", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    b = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    b.set_page_load_timeout(30)
    yield b
    b.quit()


def shots_dir():
    d = os.environ.get("DROVER_SCREENSHOTS") or os.path.join(BUILD, "console-screenshots")
    d = os.path.join(ROOT, d) if not os.path.isabs(d) else d
    os.makedirs(d, exist_ok=True)
    return d


def shot(b, name):
    b.execute_script("window.scrollTo(0, 0)")
    path = os.path.join(shots_dir(), f"console-{name}.png")
    b.save_screenshot(path)
    return path


def problems(b):
    """Script errors and CSP violations the browser logged."""
    return [e["message"] for e in b.get_log("browser")
            if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]]


def row_state(b, name):
    rows = b.find_elements(By.CSS_SELECTOR, f'#services tr[data-name="{name}"] td.state')
    return rows[0].text if rows else None


def test_console_in_a_browser(make_droverd, tmp_path, browser):
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    b, wait = browser, WebDriverWait(browser, 20)
    b.get(f"http://127.0.0.1:{d.port}/")
    # Anonymous callers may read here: the services come, live, before any token.
    wait.until(lambda _: row_state(b, "ticker") == "online")
    wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "live"))
    wait.until(lambda _: b.find_elements(By.CSS_SELECTOR, ".uplot"))
    assert b.find_element(By.ID, "host").text

    # Defining a service needs control: without the token the form says why.
    b.find_element(By.ID, "d-name").send_keys("hello")
    b.find_element(By.ID, "d-cmd").send_keys(
        '["sh", "-c", "echo hello-from-console; exec sleep 600"]')
    b.find_element(By.CSS_SELECTOR, "#define button[type=submit]").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "notice"), "needs scope control"))

    b.find_element(By.ID, "token").send_keys(d.ctl_tok)
    b.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait.until(lambda _: row_state(b, "ticker") == "online")
    b.find_element(By.ID, "d-name").send_keys("hello")
    b.find_element(By.ID, "d-cmd").send_keys(
        '["sh", "-c", "echo hello-from-console; exec sleep 600"]')
    b.find_element(By.CSS_SELECTOR, "#define button[type=submit]").click()
    wait.until(lambda _: row_state(b, "hello") == "online")
    assert ok(d, "/drover.v1.Services/Get", {"target": "hello"})["status"] == "online"
    # Network and disk rates once two snapshots came; the file systems droverd measures.
    wait.until(lambda _: "/s" in b.find_element(By.CSS_SELECTOR, ".cards").text)
    fs = ok(d, "/drover.v1.Metrics/Get", {"disks": True}).get("filesystems", [])
    wait.until(lambda _: len(b.find_elements(By.CSS_SELECTOR, "#filesystems tr")) == len(fs))
    shot(b, "overview")

    # Its page: the line it logged, followed live.
    b.find_element(By.LINK_TEXT, "hello").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "log"), "hello-from-console"))
    assert '"name": "hello"' in b.find_element(By.CSS_SELECTOR, "pre.spec").text

    # A service with a probe and a dependency: both on its page, with the other's state, and
    # on the other's page the other way round.
    ok(d, "/drover.v1.Services/Start", {"spec": {
        "name": "probed", "cmd": ["sleep", "600"], "dependsOn": ["hello"],
        "probes": [{"kind": "KIND_EXEC", "cmd": ["true"], "intervalMs": 1000}]}},
       token=d.ctl_tok)
    b.get(f"http://127.0.0.1:{d.port}/#/service/probed")
    wait.until(EC.text_to_be_present_in_element((By.ID, "probes"), "exec true"))
    wait.until(lambda _: "it depends on online" in b.find_element(By.ID, "deps").text
               and "hello" in b.find_element(By.ID, "deps").text)
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".cards"), "healthy"))
    shot(b, "service")
    b.get(f"http://127.0.0.1:{d.port}/#/service/hello")
    wait.until(lambda _: "probed depends on it" in b.find_element(By.ID, "deps").text)
    assert "no probes" in b.find_element(By.ID, "probes").text

    # Stop it from the overview, confirming.
    b.get(f"http://127.0.0.1:{d.port}/#/")
    wait.until(lambda _: row_state(b, "hello") == "online")
    b.find_element(By.XPATH, '//tr[@data-name="hello"]//button[text()="Stop"]').click()
    wait.until(EC.alert_is_present())
    b.switch_to.alert.accept()
    wait.until(lambda _: row_state(b, "hello") == "stopped")
    assert ok(d, "/drover.v1.Services/Get", {"target": "hello"})["status"] == "stopped"

    # The machine's processes, live, sortable and filtered; then as a tree.
    b.find_element(By.LINK_TEXT, "Processes").click()
    wait.until(lambda _: len(b.find_elements(By.CSS_SELECTOR, "#procs tr")) > 3)
    b.find_element(By.ID, "proc-filter").send_keys("droverd")
    wait.until(lambda _: all("droverd" in r.text
                             for r in b.find_elements(By.CSS_SELECTOR, "#procs tr")))
    shot(b, "processes")
    b.find_element(By.CSS_SELECTOR, "#proc-mode option[value=tree]").click()
    # The tree keeps droverd's ancestors: more rows, droverd's indented below them.
    wait.until(lambda _: len(b.find_elements(By.CSS_SELECTOR, "#procs td.treename")) > 1)
    names = [r.text for r in b.find_elements(By.CSS_SELECTOR, "#procs td.treename")]
    assert names[-1].strip().startswith("└ droverd") or any("└ droverd" in n for n in names), names
    b.find_element(By.ID, "proc-filter").clear()

    # A zombie (its parent never waits) and a tracked process, registered while the page is
    # open: both show without a reload.
    parent = subprocess.Popen(["sh", "-c", "sleep 0.1 & exec sleep 600"])
    tracked = subprocess.Popen(["sleep", "600"])
    try:
        wait.until(lambda _: any(f">{parent.pid}<" in r.get_attribute("innerHTML")
                                 for r in b.find_elements(By.CSS_SELECTOR, "#zombies tr")))
        ok(d, "/drover.v1.Processes/Register", {"pid": tracked.pid, "createdAt": time.time(),
                                                "command": "sleep 600", "originator": "test:1"},
           token=d.ctl_tok)
        wait.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, f'#tracked tr[data-pid="{tracked.pid}"]')))
        shot(b, "processes-tracked")
        # It dies: the registry calls it gone, and Clean up forgets it.
        tracked.kill()
        tracked.wait()
        wait.until(lambda _: str(tracked.pid) in b.find_element(By.ID, "orphans").text)
        b.find_element(By.ID, "orphans-kill").click()
        wait.until(EC.alert_is_present())
        b.switch_to.alert.accept()
        wait.until(lambda _: not b.find_elements(By.CSS_SELECTOR,
                                                 f'#tracked tr[data-pid="{tracked.pid}"]'))
    finally:
        for p in (parent, tracked):
            p.kill()
            p.wait()

    b.find_element(By.LINK_TEXT, "Sessions").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "main table")))

    # A shell in the browser's terminal: the same attachment as the CLI's.
    b.find_element(By.ID, "new-shell").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "attached"))
    keys = b.find_element(By.CSS_SELECTOR, "#term .xterm-helper-textarea")
    keys.send_keys("echo hi\n")

    def rows():
        return [r.text.strip() for r in b.find_elements(By.CSS_SELECTOR, "#term .xterm-rows > div")]
    wait.until(lambda _: "hi" in rows())
    shot(b, "terminal")
    sid = b.current_url.rsplit("/", 1)[1]
    listed = ok(d, "/drover.v1.Sessions/ListPty", token=d.ctl_tok)["sessions"]
    assert any(x["sessionId"] == sid and x.get("attached") for x in listed)
    # Detached, the session goes on, unattached; the sessions page lists it.
    b.find_element(By.XPATH, '//button[text()="Detach"]').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "detached"))
    wait.until(lambda _: not [x for x in ok(d, "/drover.v1.Sessions/ListPty", token=d.ctl_tok)
                              ["sessions"] if x["sessionId"] == sid][0].get("attached"))
    b.find_element(By.LINK_TEXT, "Sessions").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#sessions tr[data-id="{sid}"]')))
    # The list is live: a session started elsewhere shows, and its end.
    other = ok(d, "/drover.v1.Sessions/SpawnPty", {"argv": ["sh", "-c", "sleep 2"]},
               token=d.ctl_tok)["sessionId"]
    row = f'#sessions tr[data-id="{other}"]'
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    wait.until(lambda _: "exited" in b.find_element(By.CSS_SELECTOR, row).text)
    shot(b, "sessions")

    # Typed into while nobody is attached: the next attach shows it (the backlog).
    import base64
    ok(d, "/drover.v1.Sessions/Send", {"sessionId": sid, "data": base64.b64encode(
        b"echo while-$((6*7))-away\n").decode()}, token=d.ctl_tok)
    # Open it in one tab, then in another: the second is told and steals it.
    b.find_element(By.CSS_SELECTOR, f'#sessions tr[data-id="{sid}"] a').click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "attached"))
    wait.until(lambda _: "while-42-away" in rows())
    # A smaller window: the terminal fits it and the session's size follows.

    def size():
        x = [x for x in ok(d, "/drover.v1.Sessions/ListPty", token=d.ctl_tok)["sessions"]
             if x["sessionId"] == sid][0]
        return x.get("cols"), x.get("rows")
    wide = size()
    b.set_window_size(900, 700)
    wait.until(lambda _: size()[0] < wide[0])
    b.set_window_size(1280, 1000)
    first = b.current_window_handle
    b.switch_to.new_window("tab")
    b.get(f"http://127.0.0.1:{d.port}/#/session/{sid}")
    b.find_element(By.ID, "token").send_keys(d.ctl_tok)  # a new tab: its own sessionStorage
    b.find_element(By.CSS_SELECTOR, "#token-form button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "another client"))
    b.find_element(By.ID, "term-steal").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "attached"))
    b.switch_to.window(first)
    wait.until(EC.text_to_be_present_in_element((By.ID, "term-state"), "stolen"))
    assert b.find_element(By.ID, "term-steal").text == "take it back"

    assert problems(b) == [] or all("401" in p or "needs scope" in p for p in problems(b))
    if os.environ.get("DROVER_SCREENSHOTS", "").rstrip("/").endswith("docs/shots"):
        shutil.copy(os.path.join(shots_dir(), "console-overview.png"),
                    os.path.join(ROOT, "docs", "console.png"))


def test_console_files_are_served_as_a_browser_wants(make_droverd, tmp_path):
    import urllib.request
    d = connect_droverd(make_droverd, tmp_path)
    url = f"http://127.0.0.1:{d.port}"
    with urllib.request.urlopen(url + "/") as r:
        page = r.read().decode()
        csp = r.headers["Content-Security-Policy"]
        etag = r.headers["ETag"]
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "<script" in page and "onclick" not in page  # no inline script for CSP to refuse
    for path, ctype in [("/app.js", "text/javascript"), ("/app.css", "text/css"),
                        ("/vendor/uPlot.iife.min.js", "text/javascript"),
                        ("/vendor/xterm.js", "text/javascript")]:
        req = urllib.request.Request(url + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req) as r:
            assert r.headers["Content-Type"].startswith(ctype)
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    # An unchanged file is a 304.
    req = urllib.request.Request(url + "/", headers={"If-None-Match": etag})
    try:
        urllib.request.urlopen(req)
        raise AssertionError("expected 304")
    except urllib.error.HTTPError as e:
        assert e.code == 304


def test_console_reconnects_after_a_restart(make_droverd, tmp_path, browser):
    """droverd stops: the page says it is reconnecting; droverd comes back: it says live again
    and shows the service's new process, with no reload."""
    d = connect_droverd(make_droverd, tmp_path, config=SERVICES)
    b, wait = browser, WebDriverWait(browser, 30)
    b.get(f"http://127.0.0.1:{d.port}/")
    wait.until(lambda _: row_state(b, "ticker") == "online")
    wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "live"))

    def pid():
        return b.find_element(By.CSS_SELECTOR, '#services tr[data-name="ticker"] td.num').text
    before = pid()
    assert d.stop() == 0
    wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "reconnecting"))
    shot(b, "reconnecting")
    d.start()
    wait.until(EC.text_to_be_present_in_element((By.ID, "link"), "live"))
    wait.until(lambda _: row_state(b, "ticker") == "online" and pid() not in ("", "—", before))
    assert len(b.find_elements(By.CSS_SELECTOR, "#services tr")) == 1


def test_console_containers(make_droverd, tmp_path, browser):
    """The Containers page: a container started elsewhere shows, live, with its CPU and memory;
    its page follows its log; stopped and removed from the page, confirmed; the image listed."""
    import subprocess as sp
    for tool in ("umoci", "skopeo"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (Debian package {tool})")
    img = str(tmp_path / "busybox")
    sp.run([os.path.join(ROOT, "tests", "images", "mkimage.sh"), img, "busybox:latest"],
           check=True, capture_output=True)
    d = connect_droverd(make_droverd, tmp_path)
    ok(d, "/drover.v1.Images/Import", {"source": img}, token=d.ctl_tok)
    b, wait = browser, WebDriverWait(browser, 30)
    b.get(f"http://127.0.0.1:{d.port}/")
    b.find_element(By.ID, "token").send_keys(d.ctl_tok)
    b.find_element(By.CSS_SELECTOR, "#token-form button").click()
    b.find_element(By.LINK_TEXT, "Containers").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "images"), "busybox"))
    st, _, body = call(d, "/drover.v1.Containers/Create", {"spec": {
        "image": "busybox", "name": "ticking", "stopTimeoutMs": 1000,
        "command": ["sh", "-c", "while :; do echo tick-from-ctr; sleep 0.5; done"]},
        "start": True}, token=d.ctl_tok)
    if st != 200:
        pytest.skip(f"no OCI runtime can run containers here: {body[:200]!r}")
    row = '#containers tr[data-name="ticking"]'
    wait.until(lambda _: "running" in b.find_element(By.CSS_SELECTOR, row).text)
    # Its memory comes from Metrics.Watch within a tick or two.
    wait.until(lambda _: b.find_elements(By.CSS_SELECTOR, row + " td.num")[-1].text not in
               ("—", "0 B"))
    assert b.find_elements(By.CSS_SELECTOR, row + " td.num")[1].text != "—"  # its uptime
    shot(b, "containers")
    b.find_element(By.LINK_TEXT, "ticking").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "ctr-log"), "tick-from-ctr"))
    shot(b, "container")
    b.find_element(By.XPATH, '//main//button[text()="Stop"]').click()
    wait.until(EC.alert_is_present())
    b.switch_to.alert.accept()
    wait.until(lambda _: "exited" in b.find_element(By.CSS_SELECTOR, ".cards").text)
    b.find_element(By.LINK_TEXT, "Containers").click()
    wait.until(lambda _: "exited" in b.find_element(By.CSS_SELECTOR, row).text)
    b.find_element(By.XPATH, f'//tr[@data-name="ticking"]//button[text()="Remove"]').click()
    wait.until(EC.alert_is_present())
    b.switch_to.alert.accept()
    wait.until(lambda _: not b.find_elements(By.CSS_SELECTOR, row))
    assert ok(d, "/drover.v1.Containers/List", {"all": True}, token=d.ctl_tok).get(
        "containers", []) == []
