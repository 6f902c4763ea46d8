"""A desktop window that shows RGB frames (pygame), for render_mode="human" and `inspatio-gym play`.

pygame is optional (the [viz] extra) and imported on first use. Without a display the
window says so plainly instead of failing inside SDL: a desktop session sets DISPLAY or
WAYLAND_DISPLAY; SDL_VIDEODRIVER=dummy runs it with nothing shown (scripts, tests).
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

import numpy as np

__all__ = ["Window", "NoDisplayError"]


class NoDisplayError(RuntimeError):
    """There is no screen to open a window on."""


def _pygame():
    try:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame
    except ImportError:
        raise ImportError("a window needs pygame: pip install -e \".[viz]\" (or pip install pygame)") from None
    return pygame


def has_display() -> bool:
    """A screen SDL can open a window on (or the dummy driver, asked for by name)."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return True
    if os.name == "nt" or sys.platform == "darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """One window: show(rgb) scales a frame up to the window, with text lines over it."""

    def __init__(self, title: str = "inspatio_gym", scale: int | None = None, min_side: int = 512,
                 require_display: bool = True) -> None:
        """require_display: without a display, raise NoDisplayError (a viewer that is nothing
        without its window); False: warn and draw offscreen (render_mode="human" in a script
        or in Gymnasium's env checker on a headless machine, as Gymnasium's own envs do)."""
        if not has_display() and not require_display:
            import warnings

            warnings.warn("render_mode='human' without a display (DISPLAY and WAYLAND_DISPLAY are unset): frames "
                          "are drawn offscreen and not shown; use render_mode='rgb_array' to get them",
                          RuntimeWarning, stacklevel=3)  # SDL then picks its offscreen driver by itself
        elif not has_display():
            raise NoDisplayError("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): "
                                 "`inspatio-gym serve` is the browser viewer; in code, render_mode='rgb_array' "
                                 "returns the frames; SDL_VIDEODRIVER=dummy runs a window without showing it")
        self.pg = _pygame()
        self.title, self.scale, self.min_side = title, scale, min_side
        self.surface = None
        self.font = None
        self.closed = False

    def _open(self, h: int, w: int) -> None:
        pg = self.pg
        try:
            pg.display.init()
            pg.font.init()
        except pg.error as e:
            raise NoDisplayError(f"cannot open a window ({e}); use render_mode='rgb_array' or `inspatio-gym serve`") \
                from None
        s = self.scale or max(1, -(-self.min_side // max(h, w)))
        self.surface = pg.display.set_mode((w * s, h * s))
        pg.display.set_caption(self.title)
        self.font = pg.font.Font(None, 22)

    def show(self, rgb: np.ndarray, lines: Sequence[str] = ()) -> None:
        """Draw an RGB uint8 frame [H, W, 3], scaled with nearest pixels, and text lines at the top left."""
        if self.closed:
            return
        pg = self.pg
        h, w = rgb.shape[:2]
        if self.surface is None:
            self._open(h, w)
        assert self.surface is not None and self.font is not None
        frame = pg.surfarray.make_surface(np.ascontiguousarray(np.swapaxes(rgb, 0, 1)))
        self.surface.blit(pg.transform.scale(frame, self.surface.get_size()), (0, 0))
        y = 6
        for line in lines:
            text = self.font.render(line, True, (255, 255, 255))
            shade = pg.Surface((text.get_width() + 8, text.get_height() + 2), pg.SRCALPHA)
            shade.fill((0, 0, 0, 150))
            self.surface.blit(shade, (4, y - 1))
            self.surface.blit(text, (8, y))
            y += text.get_height() + 3
        pg.display.flip()

    def events(self) -> list:
        """The pygame events since the last call (a closed window reports a QUIT)."""
        if self.surface is None or self.closed:
            return []
        return self.pg.event.get()

    def close(self) -> None:
        if self.surface is not None and not self.closed:
            self.pg.display.quit()
        self.closed = True
