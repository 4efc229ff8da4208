"""The course in a real browser: JupyterLab driven headless by Playwright with Debian's Chromium.

Opens ``notebooks/01_dark_knowledge`` (a copy, so autosave cannot touch the repository), runs
all cells, moves the temperature slider with the keyboard, checks that the readout and the
printed probabilities are what the package computes, answers one quiz question and checks
the feedback. A screenshot is saved in the test's temporary folder.

Then the widgets of notebooks 02, 05 and 07, each chapter cut after its last cell tagged
"widget" (its own setup and widget cells, at the smoke preset): the KD-loss sliders, the
layer-mapping picker (a strategy, a misfit, a custom list), the attention heatmap of the
sentence with the longest word (whole, nothing cut off) and the augmentation explorer's
sentences and soft labels, each checked against what the package computes.

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


def test_notebook_01_in_a_real_browser(jupyterlab, tmp_path, smoke_teacher):
    """The smoke teacher comes from the test run's cache, made before the browser starts (as the kernel would),
    so that a busy machine does not spend the quiz's wait on fine-tuning."""
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    from kd_teach.course.quiz import show

    shown = show(chapter="01_dark_knowledge", n=5, shuffle=False).questions     # what the quiz cell shows, in order
    k, question = next((k, q) for k, q in enumerate(shown) if q.type == "single")  # a single-choice one to answer
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

            # The slider: the notebook leaves it at T = 1.0; one arrow-key press moves to the next stop, 1.5.
            readout = page.locator(".widget-readout").first
            probs = page.locator(".kd-probs").first
            expect(readout).to_have_text("1.0")
            expect(probs).to_have_text(_probs_text(1.0))
            handle = page.locator(".noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            handle.press("ArrowRight")
            expect(readout).to_have_text("1.5")
            expect(probs).to_have_text(_probs_text(1.5), timeout=30_000)   # redrawn by the kernel
            assert _probs_text(1.5) != _probs_text(1.0)

            # One quiz question: choose the right option, press Check, read the feedback and score.
            item = page.locator(".kd-quiz-item").nth(k)
            item.scroll_into_view_if_needed()
            item.locator("label", has_text=question.options[question.answer]).first.click()
            item.locator(".kd-quiz-check").click()
            feedback = item.locator(".kd-quiz-feedback")
            expect(feedback).to_contain_text("Right.")
            expect(page.locator(".kd-quiz-score").first).to_have_text("Score: 1 / 1")
            _check_quiz_look(page, k)                                  # layout and colours, after one answer
            page.screenshot(path=str(tmp_path / "jupyterlab.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - t0:.0f} s in the browser; screenshot {tmp_path / 'jupyterlab.png'}")


# --------------------------------------------------------------------------- the widgets of notebooks 02, 05 and 07
# Whole chapters take minutes in a browser; each is cut after its last cell tagged "widget" (the chapter's own
# setup cells and widget cells, at the smoke preset), and ends with a cell that saves what the test checks against.
WIDGET_CHAPTERS = {
    "02_hinton_kd": 'torch.save({"z_s": z_s.detach(), "z_t": z_t, "y": y}, "kd_inputs.pt")',
    "05_transformer_distillation": "",
    "07_task_distillation": """
import json
s = aug_explorer.sentence.options[3]                        # the sentence the test picks
[drawn] = augment(augmenter, [s], N=aug_explorer.N.value, p=aug_explorer.p.value, seed=a.seed, progress=False)
with torch.no_grad():
    p_pos = [teacher(**tokenizer(t, return_tensors="pt")).logits.softmax(-1)[0, 1].item()
             for t in [s] + [x.sentence for x in drawn]]
json.dump({"sentence": s, "new": [x.sentence for x in drawn], "p": [f"{p:.3f}" for p in p_pos]},
          open("aug_expected.json", "w"))""",
}


def _widget_notebook(chapter: str, folder: Path) -> str:
    """``folder/<chapter>.ipynb``: the chapter's cells up to its last "widget" cell, then the test's cell, a marker."""
    import jupytext
    from nbformat.v4 import new_code_cell

    nb = jupytext.read(ROOT / "notebooks" / f"{chapter}.py")
    last = max(i for i, c in enumerate(nb.cells) if "widget" in c.metadata.get("tags", []))
    nb.cells = nb.cells[:last + 1] + [new_code_cell(WIDGET_CHAPTERS[chapter] + '\nprint("KD_" + "READY")')]
    jupytext.write(nb, folder / f"{chapter}.ipynb", fmt="ipynb")
    return f"{chapter}.ipynb"


def _border_is_white(png: bytes, width: int = 2) -> bool:
    """Whether the outermost ``width`` pixels of a picture are white: a label cut by the edge leaves dark ones."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    edges = [img[:width], img[-width:], img[:, :width], img[:, -width:]]
    return min(int(e.min()) for e in edges) >= 250                 # 250: the browser's scaling may blend a little


def _check_kd_loss_explorer(page, lab: Path) -> None:
    """Notebook 02: the T and alpha sliders moved with the keyboard; the numbers shown are the package's."""
    from playwright.sync_api import expect

    from kd_teach.hinton.losses import distillation_loss, kd_loss, student_loss

    text = page.locator(".kd-kdloss")
    expect(text).to_contain_text("T = 2.0, alpha = 0.50, beta = 0.50")
    handles = page.locator(".noUi-handle")                          # T, alpha, beta
    handles.nth(0).scroll_into_view_if_needed()
    handles.nth(0).focus()
    for _ in range(2):
        handles.nth(0).press("ArrowRight")                          # T: 2.0 -> 3.0 in steps of 0.5
    expect(text).to_contain_text("T = 3.0, alpha = 0.50", timeout=30_000)
    handles.nth(1).focus()
    for _ in range(2):
        handles.nth(1).press("ArrowLeft")                           # alpha: 0.50 -> 0.40
    expect(text).to_contain_text("T = 3.0, alpha = 0.40, beta = 0.50", timeout=30_000)
    inputs = torch.load(lab / "kd_inputs.pt")
    z_s, z_t, y = inputs["z_s"], inputs["z_t"], inputs["y"]
    shown = text.inner_text()
    assert f"L_student = {student_loss(z_s, y).item():.4f}," in shown, shown
    assert f"L_distil = {distillation_loss(z_s, z_t, 3.0).item():.4f} " in shown, shown
    assert f"(without T²: {distillation_loss(z_s, z_t, 3.0, scale_by_T2=False).item():.4f})" in shown, shown
    assert f"= {kd_loss(z_s, z_t, y, alpha=0.4, beta=0.5, T=3.0).item():.4f} nats" in shown, shown
    grads = []
    for scale in (True, False):
        z = z_s.clone().requires_grad_(True)
        distillation_loss(z, z_t, 3.0, scale_by_T2=scale).backward()
        grads.append(z.grad.norm().item())
    assert f"L_distil {grads[0]:#.4g} with T², {grads[1]:#.4g} without" in shown, shown


def _check_mapping_picker_and_heatmap(page, lab: Path) -> None:
    """Notebook 05: a strategy clicked and a custom list typed show the package's mapping or its error; the
    attention heatmap of the sentence with the longest word is whole in the browser."""
    from playwright.sync_api import expect

    from kd_teach.engine.presets import get_preset
    from kd_teach.tinybert.mapping import describe_mapping, layer_mapping

    M, N = get_preset("smoke").tinybert.student.layers, 6           # the smoke student, all-MiniLM-L6-v2
    mapping = page.locator(".kd-mapping")
    expect(mapping).to_contain_text(f"g = {layer_mapping(M, N)}")
    page.get_by_role("button", name="top", exact=True).click()
    g = layer_mapping(M, N, "top")
    expect(mapping).to_contain_text(f"g = {g}", timeout=30_000)
    assert " ".join(mapping.inner_text().split()).endswith(" ".join(describe_mapping(g, N).split()))
    page.get_by_role("button", name="custom", exact=True).click()
    custom = page.locator(".widget-text", has_text="custom list").locator("input")
    custom.fill(", ".join(["3", "2", "5", "6"][:M]) if M > 1 else "7")
    try:
        layer_mapping(M, N, [3, 2, 5, 6][:M] if M > 1 else [7])
        raise AssertionError("the typed list should not fit")
    except ValueError as refusal:
        expect(mapping).to_have_text(f"Refused: {refusal}", timeout=30_000)
    custom.fill(", ".join(map(str, range(2, 2 + M))))
    expect(mapping).to_contain_text(f"g = {layer_mapping(M, N, list(range(2, 2 + M)))}", timeout=30_000)

    # The heatmaps: pick the sentence with the longest word, wait for the redraw, read the picture as shown.
    select = page.locator(".widget-dropdown select").first          # the attention explorer's sentences
    options = select.locator("option").all_text_contents()
    longest = max(range(len(options)), key=lambda i: max(map(len, options[i].split())))
    image = page.locator(".widget-image").first
    current = select.evaluate("s => s.selectedIndex")
    for index in ([int(longest == 0)] if current == longest else []) + [longest]:   # each pick a change: a redraw
        before = image.get_attribute("src")
        select.select_option(index=index)
        expect(image).not_to_have_attribute("src", before, timeout=30_000)
    image.scroll_into_view_if_needed()
    image.screenshot(path=str(lab.parent / "heatmap.png"))           # for a person to look at, beside the failures
    # The picture the browser shows (its own bytes, not a screenshot, which toasts and scrollbars may cover) ...
    shown = image.evaluate("""async img => ({
        png: Array.from(new Uint8Array(await (await fetch(img.src)).arrayBuffer())),
        natural: [img.naturalWidth, img.naturalHeight], drawn: [img.clientWidth, img.clientHeight]})""")
    assert _border_is_white(bytes(shown["png"])), f"a heatmap label is cut off for {options[longest]!r}"
    # ... drawn whole: its proportions kept (not cropped) and inside the cell's output area.
    (nw, nh), (w, h) = shown["natural"], shown["drawn"]
    assert w > 0 and abs(w / h - nw / nh) < 0.01, (shown["natural"], shown["drawn"])
    area = image.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea-output')]").first
    box, area = image.bounding_box(), area.bounding_box()
    assert area["x"] <= box["x"] and box["x"] + box["width"] <= area["x"] + area["width"] + 1


def _check_augmentation_explorer(page, lab: Path) -> None:
    """Notebook 07: a sentence picked; the new sentences and the teacher's soft labels shown are the package's."""
    import json

    from playwright.sync_api import expect

    expected = json.loads((lab / "aug_expected.json").read_text())
    page.locator(".widget-dropdown select").first.select_option(index=3)   # the kernel saved what it shows
    rows = page.locator(".kd-aug-row")
    expect(rows.first.locator(".kd-aug-sentence")).to_have_text(expected["sentence"].strip(), timeout=30_000)
    expect(rows).to_have_count(1 + len(expected["new"]))
    shown = [t.strip() for t in rows.locator(".kd-aug-sentence").all_inner_texts()]   # SST-2 ends rows with a space
    assert shown == [s.strip() for s in [expected["sentence"], *expected["new"]]]
    assert rows.locator(".kd-aug-p").all_inner_texts() == expected["p"]
    assert expected["new"], "at N = 10 a real training sentence should have new sentences"


def test_widgets_of_notebooks_02_05_07_in_a_real_browser(jupyterlab, tmp_path, smoke_teacher, smoke_mlm_teacher):
    """The three chapters' widgets, each in its own JupyterLab workspace, their kernels run side by side.

    The smoke teachers come from the test run's cache (made before the browser starts, as the kernels would)."""
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyterlab
    lab = tmp_path / "lab"
    names = {chapter: _widget_notebook(chapter, lab) for chapter in WIDGET_CHAPTERS}
    t0 = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        pages = {}
        try:
            for chapter, name in names.items():                       # open all three and start them running
                page = pages[chapter] = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/lab/workspaces/{chapter[:2]}/tree/{name}?token={token}")
                expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)
                page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
            for chapter, page in pages.items():
                ready = page.locator(".jp-OutputArea-output", has_text="KD_READY")
                failed = page.locator(".jp-OutputArea-output", has_text="Traceback")
                expect(ready.or_(failed).first).to_be_visible(timeout=240_000)
                assert failed.count() == 0, f"{chapter}: {failed.first.inner_text()[-2000:]}"
            _check_kd_loss_explorer(pages["02_hinton_kd"], lab)
            _check_mapping_picker_and_heatmap(pages["05_transformer_distillation"], lab)
            _check_augmentation_explorer(pages["07_task_distillation"], lab)
        except Exception:
            for chapter, page in pages.items():
                page.screenshot(path=str(tmp_path / f"failure-{chapter}.png"), full_page=True)
            raise
        finally:
            browser.close()
    print(f"widgets of 02, 05, 07 in the browser: {time.monotonic() - t0:.0f} s; screenshots on failure in {tmp_path}")


# --------------------------------------------------------------------------- the quiz's look (issue 17, item 7)
def _rgb(css: str) -> tuple[int, ...]:
    """'rgb(27, 94, 32)' or 'rgba(27, 94, 32, 0.5)' -> (27, 94, 32)."""
    import re

    return tuple(int(float(x)) for x in re.findall(r"[\d.]+", css)[:3])


def _bank_question(item):
    """The bank question a quiz item shows, found by its text in the item's header."""
    header = " ".join(item.locator(".widget-html, .jupyter-widget-html").first.inner_text().split())
    [q] = [q for q in load_bank() if " ".join(q.text.split()) in header]
    return q


def _check_quiz_look(page, answered: int = 0) -> None:
    """Notebook 01's quiz, after its question ``answered`` was answered right: the title is in words; right feedback
    is green with a ✓, wrong feedback red with a ✗; a locked choice stays marked; and an option that wraps
    keeps its radio button beside its first line (ipywidgets floats it after the text)."""
    from playwright.sync_api import expect

    from kd_teach.course.quiz import title

    expect(page.locator(".kd-quiz h3").first).to_have_text(title(chapter="01_dark_knowledge"))
    items = page.locator(".kd-quiz-item")
    right = items.nth(answered).locator(".kd-quiz-feedback")
    expect(right).to_contain_text("✓ Right.")
    r, g, b = _rgb(right.locator("b").first.evaluate("e => getComputedStyle(e).color"))
    assert g > r + 40 and g > b + 40, f"right feedback should be green, got rgb{(r, g, b)}"
    chosen = items.nth(answered).locator("label:has(input:checked)")
    style = chosen.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).fontWeight, "
                            "getComputedStyle(e).opacity]")
    assert _rgb(style[0]) != (0, 0, 0) and int(style[1]) >= 600 and float(style[2]) == 1, f"locked choice: {style}"

    # A later single-choice item, squeezed so that its options wrap: the radio sits beside the first line.
    k = next(i for i in range(items.count()) if i != answered and items.nth(i).locator(".widget-radio-box").count())
    item = items.nth(k)
    item.scroll_into_view_if_needed()
    item.evaluate("e => { e.style.width = '260px'; }")
    boxes = item.locator(".widget-radio-box label").evaluate_all("""labels => labels.map(l => {
        const text = [...l.childNodes].find(n => n.nodeType === Node.TEXT_NODE);
        const range = document.createRange(); range.selectNodeContents(text);
        const lines = [...range.getClientRects()].map(r => [r.top, r.bottom, r.left]);
        const b = l.querySelector('input').getBoundingClientRect();
        return {lines: lines, input: [b.top, b.bottom, b.left, b.right]};
    })""")
    wrapped = [box for box in boxes if len({round(top) for top, _, _ in box["lines"]}) > 1]
    assert wrapped, f"no option wrapped at 260 px, nothing to check: {boxes}"
    for box in wrapped:
        (top, bottom, left), (i_top, i_bottom, _, i_right) = box["lines"][0], box["input"]
        assert top - 2 <= (i_top + i_bottom) / 2 <= bottom + 2, f"radio not beside the first line: {box}"
        assert i_right <= left + 1, f"radio not before the text: {box}"
    item.evaluate("e => { e.style.width = ''; }")

    q = _bank_question(item)                                         # now answer it wrong
    wrong = (q.answer + 1) % len(q.options)
    item.locator("label", has_text=f"{'abcdefghij'[wrong]}) {q.options[wrong]}").first.click()
    item.locator(".kd-quiz-check").click()
    feedback = item.locator(".kd-quiz-feedback")
    expect(feedback).to_contain_text("✗ Not quite.")
    r, g, b = _rgb(feedback.locator("b").first.evaluate("e => getComputedStyle(e).color"))
    assert r > g + 40 and r > b + 40, f"wrong feedback should be red, got rgb{(r, g, b)}"
    expect(item.locator("label", has_text="✓ the answer")).to_contain_text(q.options[q.answer])  # marked in the list
    expect(page.locator(".kd-quiz-score").first).to_have_text("Score: 1 / 2")
