"""The course in a real browser: JupyterLab driven headless by Playwright with Debian's Chromium.

Opens ``notebooks/01_dark_knowledge`` (a copy, so autosave cannot touch the repository), runs
all cells, moves the temperature slider with the keyboard, checks that the readout and the
printed probabilities are what the package computes, answers one quiz question and checks
the feedback. A screenshot is saved in the test's temporary folder.

Needs Chromium at ``$KD_TEACH_CHROMIUM`` (default ``/usr/bin/chromium``; Debian: ``apt-get
install chromium``; ``.ci/run`` installs it) and the ``playwright`` package. It fails, rather
than skips, when either is missing; ``KD_TEACH_SKIP_BROWSER=1`` skips it, visibly, on purpose.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from kd_teach.course.bank import load_bank
from kd_teach.temperature import softmax_with_temperature

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("KD_TEACH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # what works on these machines (DESIGN.md)
# The illustrative logits and words of notebook 01's temperature slider.
WORDS = ["essay", "report", "homework", "novel", "bicycle"]
LOGITS = torch.tensor([6.0, 5.2, 4.5, 2.0, -1.0], dtype=torch.float64)


def _probs_text(T: float) -> str:
    """What the widget prints for temperature T (see kd_teach.course.widgets.TemperatureExplorer.update)."""
    return " ".join(f"{w}: {p:.3f}" for w, p in zip(WORDS, softmax_with_temperature(LOGITS, T).tolist()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 01; yields its base URL and token."""
    if os.environ.get("KD_TEACH_SKIP_BROWSER") == "1":
        pytest.skip("KD_TEACH_SKIP_BROWSER=1: the browser test was switched off on purpose")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install chromium) "
                    "or set KD_TEACH_CHROMIUM to its binary; never `playwright install`")
    lab = tmp_path / "lab"
    lab.mkdir()
    shutil.copy(ROOT / "notebooks" / "01_dark_knowledge.ipynb", lab)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # Jupyter refuses root otherwise (containers)
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(cmd, cwd=lab, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; log:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()  # SIGTERM: the server shuts its kernels down
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_notebook_01_in_a_real_browser(jupyterlab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    question = load_bank(chapter="01_dark_knowledge")[0]       # the quiz cell shows the bank in order
    assert question.type == "single"
    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/lab/tree/01_dark_knowledge.ipynb?token={token}")
            status = page.locator("#jp-main-statusbar")
            expect(status).to_contain_text("Idle", timeout=120_000)      # the kernel is up

            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
            check = page.locator(".kd-quiz-check").first               # the last cell's quiz
            expect(check).to_be_visible(timeout=300_000)
            expect(status).to_contain_text("Idle", timeout=120_000)

            # The slider: the notebook leaves it at T = 1.0; five arrow-key presses of 0.1 give 1.5.
            readout = page.locator(".widget-readout").first
            probs = page.locator(".kd-probs").first
            expect(readout).to_have_text("1.0")
            expect(probs).to_have_text(_probs_text(1.0))
            handle = page.locator(".noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            for _ in range(5):
                handle.press("ArrowRight")
            expect(readout).to_have_text("1.5")
            expect(probs).to_have_text(_probs_text(1.5), timeout=30_000)   # redrawn by the kernel
            assert _probs_text(1.5) != _probs_text(1.0)

            # One quiz question: choose the right option, press Check, read the feedback and score.
            item = page.locator(".kd-quiz-item").first
            item.scroll_into_view_if_needed()
            item.locator("label", has_text=question.options[question.answer]).first.click()
            check.click()
            feedback = item.locator(".kd-quiz-feedback")
            expect(feedback).to_contain_text("Right.")
            expect(page.locator(".kd-quiz-score").first).to_have_text("Score: 1 / 1")
            page.screenshot(path=str(tmp_path / "jupyterlab.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.0f} s in the browser; screenshot {tmp_path / 'jupyterlab.png'}")
