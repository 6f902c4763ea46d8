"""`inspatio-gym serve`: a local web viewer to walk through a world from the browser.

The page (viewer/static/index.html) sends the keys held down over a WebSocket; the server
steps the world at a fixed rate and streams each view back as JPEG with the overlay's
facts (pose, time, coverage). Every open tab is one lane of one batched vector env: tabs on
the same world, backend and time mode share that world, its caches and one batched step
per tick (a Hub). The backend and time-mode switches move a tab to the hub for its choice;
the video field preprocesses another video (its progress bars streamed to the page) and
moves the tab there; the record button turns the tab's frames into an MP4 it downloads.

Bound to 127.0.0.1 by default: the page can load any file the server can read as a video,
so exposing it (--host 0.0.0.0) is for trusted networks only, and says so.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from aiohttp import WSMsgType, web

from ..envs.vector_env import WorldVectorEnv
from ..io.media import write_mp4
from .keys import KEYS, action_from_keys, overlay_lines, pose_readout

__all__ = ["Viewer", "make_app", "serve", "serve_in_thread"]

STATIC = Path(__file__).resolve().parent / "static"
BACKENDS = ("warp", "star")
TIME_MODES = ("play", "loop", "pingpong", "freeze")


@dataclass
class Tab:
    """One browser tab: its socket, the lane it drives and what it holds down."""

    ws: web.WebSocketResponse
    id: int
    hub: "Hub | None" = None
    lane: int = -1
    held: set[str] = field(default_factory=set)
    recording: list[np.ndarray] | None = None
    rec_start: float = 0.0
    loading: bool = False


class Hub:
    """One batched vector env (a world, a backend, a time mode) whose lanes are tabs."""

    def __init__(self, source: dict[str, Any], backend: str, time_mode: str, lanes: int, width: int, height: int):
        self.source, self.backend, self.time_mode = source, backend, time_mode
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a world's fallback warning is shown on the page instead
            self.env = WorldVectorEnv(num_envs=lanes, width=width, height=height, backend=backend,
                                      time_mode=time_mode, action_mode="continuous", **source)
        self.env.reset(seed=0)
        self.world = self.env.worlds[0]
        self.tabs: list[Tab | None] = [None] * lanes
        self.steps = 0
        self.obs: np.ndarray | None = None
        self.info: dict[str, Any] | None = None

    def free_lane(self) -> int | None:
        return next((i for i, t in enumerate(self.tabs) if t is None), None)

    def attach(self, tab: Tab, lane: int) -> None:
        """Give the tab a lane (reset to the start of the world, its own seed)."""
        mask = np.zeros(self.env.num_envs, bool)
        mask[lane] = True
        self.env.reset(seed=[tab.id if i == lane else None for i in range(self.env.num_envs)],
                       options={"reset_mask": mask})
        self.tabs[lane] = tab
        tab.hub, tab.lane = self, lane

    def release(self, tab: Tab) -> None:
        """Free the tab's lane here (the tab's own fields are the caller's)."""
        for i, t in enumerate(self.tabs):
            if t is tab:
                self.tabs[i] = None

    def step(self) -> None:
        """One batched step of every lane: each tab's held keys, zero for free lanes."""
        actions = np.stack([action_from_keys(t.held) if t is not None else np.zeros(6, np.float32)
                            for t in self.tabs])
        obs, _, _, _, info = self.env.step(actions)
        self.obs, self.info = obs, info
        self.steps += 1

    def message(self, lane: int, recording: float | None) -> dict[str, Any]:
        assert self.info is not None
        info = {k: self.info[k][lane] for k in ("pose", "frame", "coverage", "blocked", "collided")}
        pos, yaw, pitch = pose_readout(info["pose"], self.world.scale)
        return {"type": "frame", "lane": lane, "backend": self.backend, "time_mode": self.time_mode,
                "frame": int(info["frame"]), "num_frames": self.world.num_frames,
                "coverage": round(float(info["coverage"]), 3), "blocked": str(info["blocked"]),
                "pose": [round(float(v), 3) for v in pos], "yaw": round(yaw, 1), "pitch": round(pitch, 1),
                "steps": self.steps, "world": self.world.name,
                "lines": overlay_lines(info, backend=self.backend, time_mode=self.time_mode,
                                       num_frames=self.world.num_frames, scale=self.world.scale,
                                       recording=recording)}

    @property
    def active(self) -> int:
        return sum(t is not None for t in self.tabs)


def _bars() -> list[dict[str, Any]]:
    """The progress bars running in this process (preprocessing a video): desc, n, total."""
    from tqdm.std import tqdm

    with tqdm.get_lock():
        bars = list(tqdm._instances)  # type: ignore[attr-defined]
    return [{"desc": str(b.desc).rstrip(": "), "n": int(b.n), "total": int(b.total or 0)} for b in bars]


class Viewer:
    """The server's state: hubs by (source, backend, time mode), tabs, and the step thread."""

    def __init__(self, video: str | None = None, world: str | None = None, width: int = 128, height: int = 128,
                 lanes: int = 4, fps: float = 15.0, backend: str = "warp", time_mode: str = "loop",
                 recordings: Path | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if time_mode not in TIME_MODES:
            raise ValueError(f"time_mode must be one of {TIME_MODES}, got {time_mode!r}")
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a positive integer, got {lanes!r}")
        self.source: dict[str, Any] = {"video": video} if video else ({"world": world} if world else {})
        self.width, self.height, self.lanes, self.fps = width, height, lanes, fps
        self.backend, self.time_mode = backend, time_mode
        self.hubs: dict[tuple[str, str, str], Hub] = {}
        self.tabs: dict[int, Tab] = {}
        self.next_id = 0
        self.stepper = ThreadPoolExecutor(1, thread_name_prefix="inspatio-step")  # env work, one at a time
        self.loader = ThreadPoolExecutor(1, thread_name_prefix="inspatio-load")  # worlds and preprocessing
        self._recordings, self._own_recordings = recordings, recordings is None
        self.tick_task: asyncio.Task | None = None

    @property
    def recordings(self) -> Path:
        """Where recordings are written: the folder given, else a temporary one made on the
        first recording and removed when the server stops (the page downloads each MP4)."""
        if self._recordings is None:
            self._recordings = Path(tempfile.mkdtemp(prefix="inspatio-recordings-"))
        return self._recordings

    # -- hubs ---------------------------------------------------------------------------------
    def _key(self, source: dict[str, Any], backend: str, time_mode: str) -> tuple[str, str, str]:
        return (json.dumps(source, sort_keys=True), backend, time_mode)

    async def hub_for(self, source: dict[str, Any], backend: str, time_mode: str) -> Hub:
        key = self._key(source, backend, time_mode)
        if key not in self.hubs:
            loop = asyncio.get_running_loop()
            hub = await loop.run_in_executor(self.loader, Hub, source, backend, time_mode, self.lanes,
                                             self.width, self.height)
            self.hubs.setdefault(key, hub)
        return self.hubs[key]

    async def move(self, tab: Tab, source: dict[str, Any], backend: str, time_mode: str) -> None:
        """Put the tab on a lane of the hub for its choice (made on first use)."""
        hub = await self.hub_for(source, backend, time_mode)
        if hub is tab.hub:
            return
        lane = hub.free_lane()
        if lane is None:
            raise ValueError(f"all {self.lanes} lanes of this world are in use (--lanes to allow more)")
        old = tab.hub
        hub.tabs[lane] = tab  # reserved now: another tab cannot take it while the reset runs
        try:
            await asyncio.get_running_loop().run_in_executor(self.stepper, hub.attach, tab, lane)
        except BaseException:
            hub.release(tab)
            raise
        if old is not None:
            old.release(tab)

    # -- the tick -------------------------------------------------------------------------------
    async def tick(self) -> None:
        """Step every hub that has a tab, at self.fps, and send each tab its view."""
        loop = asyncio.get_running_loop()
        period = 1.0 / max(self.fps, 1e-3)
        while True:
            t0 = time.monotonic()
            for hub in list(self.hubs.values()):
                if hub.active == 0:
                    continue
                await loop.run_in_executor(self.stepper, hub.step)
                for lane, tab in enumerate(list(hub.tabs)):
                    if tab is None or tab.hub is not hub or tab.ws.closed:  # (a tab moving hubs: the new one sends)
                        continue
                    frame = hub.obs[lane]  # type: ignore[index]
                    if tab.recording is not None:
                        tab.recording.append(frame)
                    msg = hub.message(lane, None if tab.recording is None else t0 - tab.rec_start)
                    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR),
                                            [cv2.IMWRITE_JPEG_QUALITY, 92])
                    try:
                        await tab.ws.send_str(json.dumps(msg))
                        await tab.ws.send_bytes(jpeg.tobytes())
                    except (ConnectionError, RuntimeError):
                        pass  # the tab went away: its handler detaches it
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))

    # -- one tab ------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        tab = Tab(ws, self.next_id)
        self.next_id += 1
        self.tabs[tab.id] = tab
        source = dict(self.source)
        try:
            await ws.send_str(json.dumps({"type": "hello", "tab": tab.id, "backend": self.backend,
                                          "time_mode": self.time_mode, "backends": BACKENDS,
                                          "time_modes": TIME_MODES}))
            await self._run(tab, self.move(tab, source, self.backend, self.time_mode), "loading the world")
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    await self._error(tab, f"not JSON: {msg.data[:80]!r}")
                    continue
                kind = data.get("type")
                if kind == "keys":
                    tab.held = {k for k in data.get("held", []) if k in KEYS}
                elif kind == "config" and tab.hub is not None:
                    backend, time_mode = data.get("backend", tab.hub.backend), data.get("time_mode", tab.hub.time_mode)
                    if backend not in BACKENDS or time_mode not in TIME_MODES:
                        await self._error(tab, f"unknown backend {backend!r} or time mode {time_mode!r}")
                        continue
                    asyncio.create_task(self._run(tab, self.move(tab, tab.hub.source, backend, time_mode),
                                                  f"switching to {backend}, {time_mode}"))
                elif kind == "record":
                    await self._record(tab)
                elif kind == "load":
                    path = str(data.get("video", "")).strip()
                    if not path:
                        await self._error(tab, "give a video file or image folder to load")
                        continue
                    backend = tab.hub.backend if tab.hub else self.backend
                    time_mode = tab.hub.time_mode if tab.hub else self.time_mode
                    asyncio.create_task(self._run(tab, self.move(tab, {"video": path}, backend, time_mode),
                                                  f"preprocessing {Path(path).name}"))
                else:
                    await self._error(tab, f"unknown message type {kind!r}")
        finally:
            for hub in self.hubs.values():
                hub.release(tab)
            self.tabs.pop(tab.id, None)
        return ws

    async def _run(self, tab: Tab, job: Any, what: str) -> None:
        """Run a slow job (a world, a preprocessing) while the page shows its progress bars."""
        if tab.loading:
            await self._error(tab, "busy: wait for the current load to finish")
            job.close()
            return
        tab.loading = True
        task = asyncio.ensure_future(job)
        try:
            while not task.done():
                await asyncio.wait([task], timeout=0.25)
                if not tab.ws.closed:
                    await tab.ws.send_str(json.dumps({"type": "progress", "what": what, "bars": _bars(),
                                                      "done": task.done()}))
            task.result()
        except Exception as e:  # shown on the page; the tab stays where it was
            await self._error(tab, f"{what} failed: {e}")
        finally:
            tab.loading = False

    async def _record(self, tab: Tab) -> None:
        if tab.recording is None:
            tab.recording, tab.rec_start = [], time.monotonic()
            return
        frames, tab.recording = tab.recording, None
        if not frames:
            return
        name = f"recording-{tab.id}-{int(time.time())}.mp4"
        loop = asyncio.get_running_loop()
        upscale = max(1, 256 // max(frames[0].shape[:2]))
        await loop.run_in_executor(self.loader, write_mp4, self.recordings / name, frames, self.fps, upscale)
        await tab.ws.send_str(json.dumps({"type": "recording", "url": f"/recordings/{name}", "frames": len(frames)}))

    async def _error(self, tab: Tab, message: str) -> None:
        if not tab.ws.closed:
            await tab.ws.send_str(json.dumps({"type": "error", "message": message}))

    # -- http ---------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def recording(self, request: web.Request) -> web.FileResponse:
        name = request.match_info["name"]
        path = self._recordings / name if self._recordings is not None else None
        if "/" in name or not name.endswith(".mp4") or path is None or not path.is_file():
            raise web.HTTPNotFound(text=f"no recording {name!r}")
        return web.FileResponse(path, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"tabs": len(self.tabs), "hubs": [
            {"world": h.world.name, "backend": h.backend, "time_mode": h.time_mode, "lanes": len(h.tabs),
             "lanes_in_use": [i for i, t in enumerate(h.tabs) if t is not None], "steps": h.steps}
            for h in self.hubs.values()]})

    async def on_startup(self, app: web.Application) -> None:
        self.tick_task = asyncio.create_task(self.tick())

    async def on_cleanup(self, app: web.Application) -> None:
        if self.tick_task is not None:
            self.tick_task.cancel()
        self.stepper.shutdown(wait=False, cancel_futures=True)
        self.loader.shutdown(wait=False, cancel_futures=True)
        if self._own_recordings and self._recordings is not None:
            shutil.rmtree(self._recordings, ignore_errors=True)
            self._recordings = None


def make_app(viewer: Viewer) -> web.Application:
    app = web.Application()
    app.add_routes([web.get("/", viewer.index), web.get("/ws", viewer.handle), web.get("/status", viewer.status),
                    web.get("/recordings/{name}", viewer.recording)])
    app.on_startup.append(viewer.on_startup)
    app.on_cleanup.append(viewer.on_cleanup)
    return app


def serve(viewer: Viewer, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the viewer until Ctrl-C."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        warnings.warn(f"serving on {host}: anyone who can reach port {port} can walk this world and load any "
                      "file this server can read as a video; the viewer has no authentication", RuntimeWarning,
                      stacklevel=2)
    print(f"inspatio_gym viewer on http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/ "
          "(Ctrl-C to stop)", flush=True)
    web.run_app(make_app(viewer), host=host, port=port, print=None)


def serve_in_thread(viewer: Viewer, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Any]:
    """Run the viewer on a background thread (a notebook, a test); returns (its URL, stop()).
    port 0 takes a free port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(viewer))
    started = threading.Event()
    where: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            where["port"] = runner.addresses[0][1]
        except BaseException as e:  # noqa: BLE001 - reported to the caller
            where["error"] = e
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="inspatio-viewer", daemon=True)
    thread.start()
    started.wait()
    if "error" in where:
        raise where["error"]

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    return f"http://{host}:{where['port']}/", stop
