"""Print tiles: upscaling keeps the repeat seamless, inks follow the slot order, contrast is WCAG's."""

import numpy as np
import pytest

from packaging_pipeline.core.colour import contrast_ratio, relative_luminance
from packaging_pipeline.core.errors import InputError
from packaging_pipeline.design.artwork import (
    PRINT_TILE_PX,
    inks_for_slots,
    night_tiles,
    procedural_tiles,
    upscale_separation,
)


def test_upscaled_tiles_stay_seamless_and_keep_their_inks():
    soft = procedural_tiles("waves", 32, size=32, seed=1)
    small = soft.argmax(-1)
    big = np.stack([upscale_separation(s, px=256) for s in soft])
    assert big.shape == (32, 256, 256) and big.dtype == np.uint8
    # The wrap line differs no more often than the middle line, which lies on the same 8-px grid (an
    # interior line off that grid would be unfair: upscaled edges of axis-aligned shapes sit on it).
    wrap = (big[:, :, -1] != big[:, :, 0]).mean() + (big[:, -1] != big[:, 0]).mean()
    middle = (big[:, :, 127] != big[:, :, 128]).mean() + (big[:, 127] != big[:, 128]).mean()
    assert wrap <= 1.5 * middle + 0.01, (wrap, middle)
    for s, b in zip(small, big, strict=True):
        assert set(np.unique(b)) <= set(np.unique(s))  # upscaling invents no ink
        # Coverage per slot survives the upscale within a few points.
        for k in np.unique(s):
            assert abs((b == k).mean() - (s == k).mean()) < 0.05


def test_print_tiles_are_300_dpi_and_seamless_at_the_wrap_line():
    from packaging_pipeline.design.compose import DEFAULT_TILE_MM

    assert PRINT_TILE_PX / (DEFAULT_TILE_MM / 25.4) >= 300
    big = np.stack([upscale_separation(s) for s in procedural_tiles("stripes", 8, size=32, seed=3)])
    assert big.shape == (8, PRINT_TILE_PX, PRINT_TILE_PX)
    half = PRINT_TILE_PX // 2
    wrap = (big[:, :, -1] != big[:, :, 0]).mean() + (big[:, -1] != big[:, 0]).mean()
    middle = (big[:, :, half - 1] != big[:, :, half]).mean() + (big[:, half - 1] != big[:, half]).mean()
    assert wrap <= 1.5 * middle + 0.01, (wrap, middle)


def test_a_shift_of_the_soft_tile_is_a_shift_of_the_print_tile():
    soft = procedural_tiles("dots", 1, size=32, seed=2)[0]
    big = upscale_separation(soft, px=128)
    shifted = upscale_separation(np.roll(soft, 8, axis=1), px=128)
    assert (np.roll(big, 32, axis=1) == shifted).mean() > 0.999  # the wrap line is just another line


def test_contrast_ratio_matches_wcag():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    with pytest.raises(InputError, match="#rrggbb"):
        relative_luminance("red")


def test_inks_go_lightest_first_and_skip_colours_that_vanish_on_paper():
    paper = "#f4f2ec"
    inks = inks_for_slots(["#1d1d1b", "#f4f2ec", "#f2c230"], paper)
    assert inks == ["#f2c230", "#1d1d1b"]  # yellow on slot 1, black on the darkest slot; paper-white skipped
    assert inks_for_slots(["#2f6db5"], paper) == ["#2f6db5", "#2f6db5"]
    with pytest.raises(InputError, match="no colour that shows"):
        inks_for_slots(["#f4f2ec"], paper)


def test_without_a_champion_the_night_paints_from_the_procedural_corpus():
    tiles, source = night_tiles(["stripes", "dots"], per_motif=2, use_model=False)
    assert source.kind == "procedural" and source.model_version is None
    assert set(tiles) == {"stripes", "dots"} and tiles["dots"].shape == (2, PRINT_TILE_PX, PRINT_TILE_PX)
    with pytest.raises(InputError, match="unknown motif"):
        night_tiles(["tartan"], per_motif=1, use_model=False)
