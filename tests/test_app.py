"""The web app: ``cadenza demo`` in a subprocess, called through gradio_client and a real browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo extra (gradio) is not installed")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client is not installed")

from cadenza_hf import read_midi  # noqa: E402
from cadenza_hf.examples import write_example_idea  # noqa: E402

START_TIMEOUT = 300  # seconds for the app to load its models on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``cadenza demo --port N`` running in a subprocess: yields its URL."""
    port, logs = free_port(), tmp_path_factory.mktemp("demo")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = open(logs / "demo.log", "wb")  # noqa: SIM115 (closed below)
    command = [sys.executable, "-m", "cadenza_hf.cli", "demo", "--port", str(port)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=logs)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"cadenza demo exited with {proc.returncode}: {(logs / 'demo.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"cadenza demo did not answer in {START_TIMEOUT} s")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def client(demo):
    return gradio_client.Client(demo, verbose=False)


@pytest.fixture(scope="module")
def idea(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("idea") / "idea.mid"
    write_example_idea(path)  # 4 bars of 4/4 at 96 qpm
    return path


def _check_midi(path: str) -> None:
    score = read_midi(path)  # the package's guarded reader: valid MIDI or an error
    assert score.note_num() > 0
    assert score.tempos[0].qpm == pytest.approx(96, abs=0.01)
    assert score.end() <= 16 * score.ticks_per_quarter + score.ticks_per_quarter // 4  # within the 4 bars


def test_api_names_are_stable(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/vary", "/generate", "/humanize", "/interpolate"} <= names


def test_vary_through_the_api_returns_valid_midi(client, idea):
    files, bundle, summary = client.predict(
        gradio_client.handle_file(str(idea)), num_variations=2, variation_strength=0.5, seed=0, api_name="/vary"
    )
    assert len(files) == 2 and [Path(f).name for f in files] == ["idea_var1.mid", "idea_var2.mid"]
    for path in files:
        _check_midi(path)
    names = zipfile.ZipFile(bundle).namelist()
    assert {"idea_var1.mid", "idea_var2.mid"} <= set(names)
    assert "seed 0" in summary and "2 variations" in summary
    # same seed, same music
    again, _, _ = client.predict(
        gradio_client.handle_file(str(idea)), num_variations=2, variation_strength=0.5, seed=0, api_name="/vary"
    )
    assert [Path(f).read_bytes() for f in again] == [Path(f).read_bytes() for f in files]


def test_bad_upload_gets_the_cli_reason(client, tmp_path):
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x01")  # a header cut short
    cli = subprocess.run(
        [sys.executable, "-m", "cadenza_hf.cli", "vary", str(bad), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 2
    reason = cli.stderr.strip().split(f"{bad}: ", 1)[1]
    with pytest.raises(gradio_client.exceptions.AppError) as err:
        client.predict(gradio_client.handle_file(str(bad)), api_name="/vary")
    assert str(err.value) == f"broken.mid: {reason}"
    assert "Traceback" not in str(err.value)


def test_concurrent_calls_are_queued_and_a_bad_one_fails_alone(demo, idea, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF not a midi file")
    uploads = [idea, idea, bad, idea]

    def call(path):
        own = gradio_client.Client(demo, verbose=False)
        try:
            return own.predict(gradio_client.handle_file(str(path)), num_variations=1, seed=1, api_name="/vary")
        except gradio_client.exceptions.AppError as err:
            return err

    with ThreadPoolExecutor(len(uploads)) as pool:
        outcomes = list(pool.map(call, uploads))
    assert isinstance(outcomes[2], gradio_client.exceptions.AppError)
    assert "bad.mid: not a MIDI file" in str(outcomes[2])
    for outcome in outcomes[:2] + outcomes[3:]:
        assert not isinstance(outcome, Exception), outcome
        _check_midi(outcome[0][0])
    # one seed, one result, whatever ran beside it
    assert len({Path(o[0][0]).read_bytes() for o in outcomes[:2] + outcomes[3:]}) == 1


def test_other_endpoints(client, idea):
    files, _, summary = client.predict("drums", num_variations=1, seed=3, api_name="/generate")
    assert len(files) == 1 and read_midi(files[0]).tracks[0].is_drum
    files, _, summary = client.predict(gradio_client.handle_file(str(idea)), seed=3, api_name="/humanize")
    assert len(files) == 1 and read_midi(files[0]).note_num() == read_midi(idea).note_num()
    files, _, _ = client.predict(
        gradio_client.handle_file(str(idea)),
        gradio_client.handle_file(str(idea)),
        steps=3,
        seed=3,
        api_name="/interpolate",
    )
    assert len(files) == 3


def test_listens_on_loopback_only(demo):
    port = int(demo.rstrip("/").rsplit(":", 1)[1])
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except socket.gaierror:
        addresses = set()
    outside = [a for a in addresses if not a.startswith("127.")]
    if not outside:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError):
        socket.create_connection((outside[0], port), timeout=2).close()


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver (.ci/run does)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2200"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_browser_uploads_varies_and_shows_rolls_and_players(demo, idea, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(demo)
        wait = WebDriverWait(browser, 180)
        upload = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
        upload.send_keys(str(idea))
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "a[download='idea.mid']")))  # uploaded
        browser.find_element(By.ID, "vary-button").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".piano-roll img")) >= 4)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".preview-audio")) >= 4)
        assert len(browser.find_elements(By.CSS_SELECTOR, ".midi-file")) >= 4
        assert "4 variations" in browser.find_element(By.ID, "vary-summary").text
        shot = tmp_path / "demo_vary.png"
        browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        browser.quit()


class _FakeStudio:
    """Stands in for the Studio (no models): records what a tab's endpoint passes on."""

    def __init__(self, supported=(), error=None):
        self.supported, self.error, self.calls = set(supported), error, []

    def accepts(self, task, name):
        return name in self.supported

    def vary(self, **kwargs):
        from cadenza_hf.app.studio import Batch

        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return Batch([], "all.zip", "done")


def test_a_control_is_one_line_and_shows_once_the_pipeline_takes_it():
    import gradio as gr

    from cadenza_hf.app import ui
    from cadenza_hf.app.studio import StudioInputError

    assert "style" not in [c.name for c in ui.active_controls(_FakeStudio(), "vary")]
    assert "style" in [c.name for c in ui.active_controls(_FakeStudio({"style"}), "vary")]
    assert {"style", "humanize"} <= {c.name for c in ui.active_controls(_FakeStudio({"style", "humanize"}), "humanize")}

    studio = _FakeStudio()
    controls = ui.active_controls(studio, "vary")
    run = ui.endpoint(studio, "vary", controls)
    values = {"midi": None, "track": "", "start_bar": None, "num_variations": 2.0, "variation_strength": 0.3}
    values |= {"kind": "auto", "seed": 5}
    assert run(*[values[c.name] for c in controls]) == ([], "all.zip", "done", [])
    # None and "auto" are left out (the pipeline's own defaults apply); counts become ints
    assert studio.calls == [{"track": "", "num_variations": 2, "variation_strength": 0.3, "seed": 5}]

    failing = _FakeStudio(error=StudioInputError("idea.mid: not a MIDI file (no MThd header)"))
    with pytest.raises(gr.Error, match="idea.mid: not a MIDI file"):
        ui.endpoint(failing, "vary", controls)(*[values[c.name] for c in controls])
