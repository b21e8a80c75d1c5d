"""The forge method registry, method configs, the Clip value object and contact sheets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.forge.methods.forge_footage import blank, head, place
from unmask.errors import ConfigError, UnknownNameError
from unmask.forge.methods import (
    Clip,
    create_method,
    list_methods,
    register_method,
    write_contact_sheet,
)


def test_unknown_method_suggests_the_closest_name() -> None:
    with pytest.raises(
        UnknownNameError, match=r"unknown forge method 'swpa'; did you mean 'swap'\?"
    ):
        create_method("swpa")


def test_unknown_parameter_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'smooth_window'\?"):
        create_method("swap", smoth_window=3)


def test_registering_a_name_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="'swap' is already registered"):
        register_method("swap")(lambda: None)  # type: ignore[arg-type,return-value]
    assert list_methods().count("swap") == 1


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("swap", {"blend": "magic"}, "blend must be one of poisson, opencv, alpha"),
        ("swap", {"feather": -1.0}, r"feather must be in \[0.0, 0.3\]"),
        ("reenact", {"strength": 9.0}, r"strength must be in \[0.0, 5.0\]"),
        ("dfae", {"resolution": 50}, "resolution must be a multiple of 16"),
    ],
)
def test_bad_parameter_values_are_config_errors(
    name: str, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_method(name, **kwargs)


@pytest.mark.parametrize("name", list_methods())
def test_every_method_declares_its_needs(name: str) -> None:
    spec = create_method(name).spec
    assert spec.name == name and spec.needs_landmarks and spec.description
    assert spec.needs_torch == spec.trains_per_pair == (name == "dfae")


def test_clip_checks_its_arrays() -> None:
    frames = [np.zeros((8, 8, 3), np.uint8)] * 2
    with pytest.raises(
        ValueError, match=r"landmarks must have shape \(2, 468, 2\); got \(3, 468, 2\)"
    ):
        Clip(frames, np.zeros((3, 468, 2)), 25.0, "a", "v")
    with pytest.raises(ValueError, match="frame 1 of clip 'v'"):
        Clip([frames[0], np.zeros((9, 8, 3), np.uint8)], np.zeros((2, 468, 2)), 25.0, "a", "v")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        Clip(frames, np.zeros((2, 468, 2)), 0.0, "a", "v")


def test_several_faces_the_largest_is_used(
    target_clip: Clip, source_clip: Clip, tmp_path: Path
) -> None:

    big = place(head(), size=160, scale=0.8, dx=-25, dy=-25)
    small = cv2.resize(place(head(), size=160), (56, 56), interpolation=cv2.INTER_AREA)
    frame = np.maximum(big, blank())
    frame[100:156, 100:156] = small
    two = Clip.from_frames([frame, frame.copy()], fps=25.0, actor_id="a", video_id="two-faces")
    points = two.landmarks[0]
    assert points[:, 0].max() < 110 and points[:, 1].max() < 110  # on the big face, top left
    result = create_method("swap").generate(
        two, source_clip, rng=np.random.default_rng(0), workdir=tmp_path
    )
    x, y = np.round(points[1]).astype(int)  # nose tip of the big face
    assert result.masks[0][y - 5 : y + 5, x - 5 : x + 5].min() > 0.99  # the big face was swapped
    assert not result.masks[0][100:, 100:].any()  # the small face was left alone
    assert np.array_equal(result.frames[0][100:, 100:], frame[100:, 100:])


def test_contact_sheet_rows_and_difference(tmp_path: Path) -> None:
    original = [np.full((40, 60, 3), 100, np.uint8) for _ in range(10)]
    fake = [f.copy() for f in original]
    for f in fake:
        f[10:20, 10:20] = 130
    path = write_contact_sheet(original, fake, tmp_path / "sub" / "sheet.png", n=3, tile=60)
    sheet = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert sheet.shape == (3 * 40, 3 * 60, 3)
    diff_tile = sheet[:40, 120:]
    assert diff_tile[15, 15].tolist() == [120, 120, 120]  # |130 - 100| * 3 channels * gain 4 / 3
    assert not diff_tile[30:, 30:].any()
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_contact_sheet_needs_matching_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same number of original and fake frames"):
        write_contact_sheet([np.zeros((4, 4, 3), np.uint8)], [], tmp_path / "x.png")
