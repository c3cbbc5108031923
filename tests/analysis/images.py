"""Checks that a PNG file is a real, non-blank image."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def assert_valid_png(path: Path, min_pixels: int = 200) -> None:
    """Opens as a PNG, at least min_pixels on each side, and not one flat colour."""
    import matplotlib.image as mpimg

    assert path.is_file(), f"missing {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert height >= min_pixels and width >= min_pixels, f"{path} is only {width}x{height}"
    assert float(np.var(pixels[..., :3])) > 0.0, f"{path} is blank"
