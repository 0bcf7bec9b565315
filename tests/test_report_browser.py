"""The report as a person sees it: `azr report` of a short tiny run opened in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON
messages ended by NUL on file descriptors 3 and 4), so the test needs no driver package. It
checks that the page logs no console errors, every plot image loads (non-zero natural size),
the samples section is there, long text wraps instead of widening the page, and the
evaluation results (pass@k of `azr eval --out`, a learning study) are shown. Screenshots of
the first screen and the whole page are kept in test-artifacts/report-browser/ (or
$AZR_TEST_ARTIFACTS). Skipped when Chromium is not installed (scripts/setup.sh installs
Debian's `chromium` where apt is available).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="needs Chromium (apt-get install chromium)")
WIDTH, HEIGHT = 1280, 900
LONG_WORD = "x" * 3000  # one unbroken "word": must wrap inside its box, not widen the page


def artefacts() -> Path:
    path = Path(os.environ.get("AZR_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "report-browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Chromium:
    """Headless Chromium and one page, over the DevTools protocol on a pipe."""

    def __init__(self, profile: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()  # we write commands, Chromium reads them on fd 3
        self._out_r, out_w = os.pipe()  # Chromium writes replies and events on fd 4

        def wire() -> None:
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)

        self.proc = subprocess.Popen(
            [
                str(BROWSER),
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",  # tests run as root in CI
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        for seen in self.events:
            if seen["method"] == event:
                return seen
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == event:
                    return message

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(str(reply["exceptionDetails"]))
        return reply["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": WIDTH, "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        found = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                found.append(f"console.{p['type']}: {p.get('args')}")
            elif e["method"] == "Runtime.exceptionThrown":
                found.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                found.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._out_r)


PAGE_FACTS = """(() => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('details:not([open])')) continue;
    const r = el.getBoundingClientRect();
    const spills = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
                   && getComputedStyle(el).overflowX === 'visible';
    if ((r.width > 0 && r.right > vw + 1) || spills)
      wide.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right) + ' ' + el.scrollWidth);
  }
  const pres = [...document.querySelectorAll('pre')].filter(p => p.offsetParent !== null);
  return {
    viewport: vw,
    scrollWidth: document.documentElement.scrollWidth,
    wide: wide.slice(0, 10),
    scrolledPres: pres.filter(p => p.scrollWidth > p.clientWidth + 1).length,
    pres: pres.length,
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,
                                             w: i.naturalWidth, h: i.naturalHeight})),
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
    samples: document.querySelectorAll('div.sample').length,
    longWord: document.body.innerHTML.includes('LONGWORD'),
    tables: [...document.querySelectorAll('table')].map(t => t.innerText.slice(0, 300)),
  };
})()"""


def azr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azr.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def _tiny_run(root: Path) -> Path:
    """A real 2-step tiny-random run, plus what a user adds: a very long sample (as if a
    model rambled without spaces), `azr eval --out RUN/eval` results and a learning study."""
    run = root / "run"
    proc = azr("train", "--model", "tiny-random", "--preset", "test", "--steps", "2",
               "--run-dir", str(run))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    last = next(r for r in reversed(rows) if r["purpose"] == "solve")
    long = dict(last, completion="<think>LONGWORD" + LONG_WORD + "</think>",
                reason="format: " + LONG_WORD[:400], prompt="P" * 2000)  # fmt: skip
    with open(run / "samples.jsonl", "a") as fh:
        fh.write(json.dumps(long) + "\n")
    data = root / "crux.jsonl"
    problems = [
        {"id": "sample_0", "code": "def f(x):\n    return x * 2", "input": "3", "output": "6"},
        {
            "id": "sample_1",
            "code": "def f(s):\n    return s[::-1]",
            "input": "'ab'",
            "output": "'ba'",
        },
    ]
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    gens = root / "gens.json"
    gens.write_text(json.dumps({"sample_0": ["6", "7"], "sample_1": ["'ba'", "'ba'"]}))
    proc = azr("eval", "score", "-b", "cruxeval-o", "-g", str(gens), "--data", str(data),
               "--k", "1,2", "--out", str(run / "eval"), "--name", f"{run}@2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rate = {"value": 0.25, "lo": 0.1, "hi": 0.4, "items": 12}
    for step in (0, 2):
        study = {"step": step, "label": f"step-{step}", "n": 4,
                 "solver": {"deduction": {"solve_rate": rate, "format_rate": rate},
                            "cruxeval-o": {"solve_rate": rate}},
                 "proposer": {"abduction": {"valid_rate": rate}}}  # fmt: skip
        (run / f"eval-step-{step}.json").write_text(json.dumps(study))
    return run


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    run = _tiny_run(tmp_path)
    proc = azr("report", str(run))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = Path(json.loads(proc.stdout.strip().splitlines()[-1])["report"])
    browser = Chromium(tmp_path / "profile")
    try:
        browser.open(report.resolve().as_uri())
        facts = browser.evaluate(PAGE_FACTS)
        out = artefacts()
        browser.screenshot(out / "report-first-screen.png")
        browser.screenshot(out / "report-full-page.png", full_page=True)
        problems = browser.problems()
    finally:
        browser.close()
    (out / "page-facts.json").write_text(json.dumps(facts, indent=1))
    print(f"screenshots and page facts in {out}")
    assert problems == []
    assert len(facts["images"]) >= 4  # per-step plots + the pass@k plot
    for img in facts["images"]:
        assert img["complete"] and img["w"] > 0 and img["h"] > 0, img
    assert "Example samples" in facts["headings"] and facts["samples"] >= 6
    assert facts["longWord"] and facts["pres"] >= 6
    assert facts["scrollWidth"] <= facts["viewport"], facts["wide"]
    assert facts["wide"] == [] and facts["scrolledPres"] == 0
    headings = facts["headings"]
    assert headings.index("Evaluation results") < headings.index("Per-step plots")
    tables = "\n".join(facts["tables"])
    assert "pass@1 (95 % CI)" in tables and "75.0 % [" in tables
    assert "solver deduction solve rate" in tables and "25.0 % [10.0, 40.0] (12)" in tables
    for name in ("report-first-screen.png", "report-full-page.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
