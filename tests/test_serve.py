"""The web viewer: its protocol end to end over a real socket, then the page in headless Chromium.

The protocol tests talk to a running server with aiohttp's WebSocket client, as the page
does; the browser test (skipped with a message where Chromium, chromedriver or selenium are
absent) loads the page, presses keys and checks that the view and the pose readout change,
and that two tabs step as two lanes of one batch.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from inspatio_gym.viewer.serve import Viewer, serve_in_thread

WORLD = "procedural:num_frames=12"


@pytest.fixture
def server(tmp_path):
    viewer = Viewer(world=WORLD, width=64, height=64, lanes=2, fps=30, recordings=tmp_path)
    url, stop = serve_in_thread(viewer)
    yield url, viewer
    stop()


def status(url: str) -> dict:
    with urllib.request.urlopen(url + "status", timeout=10) as r:
        return json.load(r)


class Client:
    """A tab without a browser: the page's messages over aiohttp's WebSocket client."""

    def __init__(self, ws) -> None:
        self.ws, self.frame, self.jpeg, self.other = ws, None, None, []

    async def until(self, pred, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while not pred(self):
            msg = await asyncio.wait_for(self.ws.receive(), max(0.1, end - time.monotonic()))
            if msg.data is None or isinstance(msg.data, int):
                raise AssertionError(f"socket closed: {msg}")
            if isinstance(msg.data, bytes):
                self.jpeg = msg.data
            else:
                m = json.loads(msg.data)
                if m["type"] == "frame":
                    self.frame = m
                else:
                    self.other.append(m)

    async def send(self, **msg) -> None:
        await self.ws.send_str(json.dumps(msg))


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 180))


def test_protocol_walk_switch_record_and_errors(server):
    import aiohttp

    url, viewer = server

    async def main():
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "ws") as ws:
            c = Client(ws)
            await c.until(lambda c: c.frame is not None and c.jpeg is not None)
            assert c.other[0]["type"] == "hello" and c.jpeg[:2] == b"\xff\xd8"  # a JPEG
            assert c.frame["backend"] == "warp" and c.frame["pose"] == [0.0, 0.0, 0.0]
            await c.send(type="keys", held=["w"])
            await c.until(lambda c: c.frame["pose"][2] > 0.2)
            await c.send(type="keys", held=["right", "not-a-key"])
            await c.until(lambda c: c.frame["yaw"] > 5)
            await c.send(type="keys", held=[])
            await c.send(type="record")
            steps = c.frame["steps"]
            await c.until(lambda c: c.frame["steps"] >= steps + 5)
            assert c.frame["lines"][-1].startswith("REC")
            await c.send(type="record")
            await c.until(lambda c: any(m["type"] == "recording" for m in c.other))
            rec = next(m for m in c.other if m["type"] == "recording")
            with urllib.request.urlopen(url + rec["url"].lstrip("/"), timeout=10) as r:
                body = r.read()
            assert rec["frames"] >= 5 and b"ftyp" in body[:64]  # an MP4
            await c.send(type="config", backend="star", time_mode="freeze")
            await c.until(lambda c: c.frame["backend"] == "star" and c.frame["time_mode"] == "freeze")
            frozen = c.frame["frame"]
            await c.until(lambda c: c.frame["steps"] >= 3)
            assert c.frame["frame"] == frozen  # freeze: the reference time stands still
            await c.send(type="load", video="/no/such/clip.mp4")
            await c.until(lambda c: any(m["type"] == "error" for m in c.other))
            err = next(m for m in c.other if m["type"] == "error")["message"]
            assert "/no/such/clip.mp4" in err and c.frame["backend"] == "star"  # the tab stayed where it was
            await c.send(type="config", backend="splat")
            await c.until(lambda c: sum(m["type"] == "error" for m in c.other) == 2)
            assert "'splat'" in [m for m in c.other if m["type"] == "error"][-1]["message"]

    run(main())
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url + "recordings/..%2Fsecret.mp4", timeout=10)


def test_two_tabs_are_two_lanes_of_one_batch(server):
    import aiohttp

    url, viewer = server

    async def main():
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "ws") as a, s.ws_connect(url + "ws") as b:
            ca, cb = Client(a), Client(b)
            await ca.until(lambda c: c.frame is not None)
            await cb.until(lambda c: c.frame is not None)
            await ca.send(type="keys", held=["w"])
            await ca.until(lambda c: c.frame["pose"][2] > 0.2)
            await cb.until(lambda c: c.frame["steps"] >= ca.frame["steps"])
            st = status(url)
            assert len(st["hubs"]) == 1 and st["hubs"][0]["lanes_in_use"] == [0, 1]
            assert {ca.frame["lane"], cb.frame["lane"]} == {0, 1}
            assert cb.frame["pose"] == [0.0, 0.0, 0.0]  # the other lane did not move
            # one batched step serves both: the tabs see the same step counter
            assert abs(ca.frame["steps"] - cb.frame["steps"]) <= 2

    run(main())
    deadline = time.monotonic() + 10
    while status(url)["hubs"][0]["lanes_in_use"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status(url)["hubs"][0]["lanes_in_use"] == []  # closed tabs give their lanes back


def _chrome(tmp: str):
    """Headless Chromium with its temp files under tmp (it leaves an org.chromium.Chromium.*
    folder in its temp folder; tmp must be short: a socket's path lies in it)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("headless Chromium and chromedriver are not installed (Debian: apt-get install chromium "
                    "chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,760"):
        opts.add_argument(a)
    opts.binary_location = chromium
    return webdriver.Chrome(service=Service(driver, env={**os.environ, "TMPDIR": tmp}), options=opts)


def test_page_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    url, viewer = server
    chrome_tmp = tempfile.mkdtemp(prefix="inspatio-chrome-")
    d = _chrome(chrome_tmp)
    try:
        d.get(url)

        def shown() -> int:
            return int(d.find_element(By.ID, "view").get_attribute("data-frames") or 0)

        def wait(pred, timeout=60.0):
            end = time.monotonic() + timeout
            while not pred():
                assert time.monotonic() < end, "timed out"
                time.sleep(0.1)

        wait(lambda: shown() >= 3)
        stage = d.find_element(By.ID, "stage")
        overlay = d.find_element(By.ID, "overlay")
        assert "warp | time loop" in overlay.text and "coverage" in overlay.text
        before_pose, before_img = stage.get_attribute("data-pose"), d.find_element(By.ID, "view").screenshot_as_png
        stage.click()
        ActionChains(d).key_down("w").perform()
        wait(lambda: float(stage.get_attribute("data-pose").split(",")[2]) > 0.2)
        ActionChains(d).key_up("w").perform()
        assert stage.get_attribute("data-pose") != before_pose
        assert d.find_element(By.ID, "view").screenshot_as_png != before_img  # the view changed
        assert "pos +0.00 +0.00 +0." in overlay.text and "+0.00 +0.00 +0.00" not in overlay.text
        d.save_screenshot(str(tmp_path / "viewer.png"))
        assert (tmp_path / "viewer.png").stat().st_size > 1000
        first = d.current_window_handle
        d.switch_to.new_window("tab")
        d.get(url)
        wait(lambda: shown() >= 3)
        wait(lambda: status(url)["hubs"][0]["lanes_in_use"] == [0, 1])
        assert "lane 1 of" in d.find_element(By.ID, "status").text
        d.switch_to.window(first)
        assert "lane 0 of" in d.find_element(By.ID, "status").text
    finally:
        d.quit()
        shutil.rmtree(chrome_tmp, ignore_errors=True)


def test_exposing_the_viewer_warns(monkeypatch):
    from inspatio_gym.viewer import serve as mod

    monkeypatch.setattr(mod.web, "run_app", lambda *a, **kw: None)
    with pytest.warns(RuntimeWarning, match="no authentication"):
        mod.serve(Viewer(world=WORLD), host="0.0.0.0", port=8123)
    with pytest.raises(ValueError, match="'splat'"):
        Viewer(backend="splat")


def test_a_viewer_without_a_folder_makes_its_own_when_it_records_and_removes_it(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    viewer = Viewer(world=WORLD)
    assert list(tmp_path.iterdir()) == []  # nothing on disk until something is recorded
    folder = viewer.recordings
    assert folder.parent == tmp_path and folder.name.startswith("inspatio-recordings-")
    (folder / "recording-0-1.mp4").write_bytes(b"x")
    asyncio.run(viewer.on_cleanup(None))
    assert list(tmp_path.iterdir()) == []
    kept = Viewer(world=WORLD, recordings=tmp_path / "mine")
    kept.recordings.mkdir()
    asyncio.run(kept.on_cleanup(None))
    assert (tmp_path / "mine").is_dir()  # a folder the user gave is theirs


def test_load_another_video_with_progress(server, tmp_path):
    import aiohttp
    import torch

    from inspatio_gym.io.media import write_mp4
    from inspatio_gym.world import procedural_world

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        frames = procedural_world(seed=7, path="dolly", num_frames=20, width=160, height=120).frames
    finally:
        torch.set_num_threads(threads)
    clip = write_mp4(tmp_path / "walk.mp4", list(frames), fps=12)
    url, viewer = server

    async def main():
        async with aiohttp.ClientSession() as s, s.ws_connect(url + "ws") as ws:
            c = Client(ws)
            await c.until(lambda c: c.frame is not None)
            first = c.frame["world"]
            await c.send(type="load", video=str(clip))
            await c.until(lambda c: c.frame["world"] != first, timeout=150)
            progress = [m for m in c.other if m["type"] == "progress" and m["what"] == "preprocessing walk.mp4"]
            assert progress and progress[-1]["done"]
            assert any(b["total"] > 0 and b["desc"].startswith("preprocess walk.mp4") for m in progress for b in m["bars"])
            assert "walk" in c.frame["world"] and c.frame["num_frames"] == 20

    run(main())
