from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests._media import numbered_frames, write_audio_only_mp4, write_vfr_video, write_video
from unmask.errors import MediaLimitError, VideoReadError
from unmask.media import FrameSampler, MediaLimits, VideoWriter, iter_frames, probe, sample_frames


def brightness_index(rgb: np.ndarray) -> int:
    return round(float(rgb.mean()) / 8)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", numbered_frames(30), fps=10)


def test_probe_reads_header(clip: Path) -> None:
    info = probe(clip)
    assert (info.width, info.height, info.fps, info.n_frames) == (64, 48, 10.0, 30)
    assert info.duration_s == pytest.approx(3.0, abs=0.11)
    assert info.codec == "h264"


def test_sample_frames_are_evenly_spaced_in_time(clip: Path) -> None:
    s = sample_frames(clip, 5)
    assert len(s) == 5 and s.complete
    # centres of 5 slices of 3 s: 0.3, 0.9, 1.5, 2.1, 2.7 s -> frames 3, 9, 15, 21, 27
    assert s.indices.tolist() == [3, 9, 15, 21, 27]
    assert [brightness_index(im) for im in s.images] == [3, 9, 15, 21, 27]
    np.testing.assert_allclose(s.timestamps, [0.3, 0.9, 1.5, 2.1, 2.7], atol=1e-6)


def test_sample_more_frames_than_the_video_has_gives_each_once(clip: Path) -> None:
    s = sample_frames(clip, 100)
    assert s.indices.tolist() == list(range(30))


def test_sample_frames_skip_nonref_still_returns_n_frames_near_targets(clip: Path) -> None:
    s = sample_frames(clip, 5, skip_nonref=True)
    assert 1 <= len(s) <= 5
    assert np.all(np.diff(s.indices) > 0)


def test_variable_frame_rate_samples_by_time(tmp_path: Path) -> None:
    frames = numbered_frames(20)
    # first 10 frames crowded into 0.5 s, the last 10 spread over 4.5 s
    times = [i * 0.05 for i in range(10)] + [0.5 + i * 0.5 for i in range(10)]
    path = write_vfr_video(tmp_path / "vfr.mp4", frames, times)
    s = sample_frames(path, 4)
    chosen = [brightness_index(im) for im in s.images]
    # evenly spaced in time over ~5 s: mostly from the slow second half
    assert sum(c >= 10 for c in chosen) >= 3
    assert np.all(np.diff(s.timestamps) > 0.5)


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:8, :16] = 255  # marker in the top-left corner
    path = write_video(tmp_path / "rot.mp4", [frame] * 3, rotation=90)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    rgb = sample_frames(path, 1).images[0]
    assert rgb.shape == (64, 48, 3)
    # 90 degrees counter-clockwise moves the top-left corner to the bottom-left
    assert rgb[-8:, :8].mean() > 200 and rgb[:8, :8].mean() < 50


def test_odd_sizes_are_padded_to_even(tmp_path: Path) -> None:
    path = write_video(tmp_path / "odd.mp4", [np.full((37, 51, 3), 100, np.uint8)] * 2)
    assert probe(path).width == 52 and probe(path).height == 38


def test_iter_frames_every_and_max(clip: Path) -> None:
    got = [(i, brightness_index(f)) for i, f in iter_frames(clip, every=7, max_frames=3)]
    assert got == [(0, 0), (7, 7), (14, 14)]


def test_writer_is_atomic_on_error(tmp_path: Path) -> None:
    target = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError), VideoWriter(target) as w:
        w.write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_size_change(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="differs from the first frame"),
        VideoWriter(tmp_path / "x.mp4") as w,
    ):
        w.write(np.zeros((16, 16, 3), np.uint8))
        w.write(np.zeros((32, 16, 3), np.uint8))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "file is empty"),
        (
            lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)),
            "not a recognised or intact video",
        ),
        (write_audio_only_mp4, "no video stream (it has audio)"),
    ],
    ids=["zero-byte", "random-bytes", "audio-only"],
)
def test_bad_videos_raise_one_clear_error(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.mp4"
    make(path)
    with pytest.raises(
        VideoReadError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as err:
        sample_frames(path)
    assert "\n" not in str(err.value)


def test_truncated_video_keeps_what_decodes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(30)]
    data = write_video(tmp_path / "full.mp4", frames).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index is first (faststart): the head decodes
    s = sample_frames(cut, 10)
    assert 1 <= len(s) < 10
    assert max(s.indices) < 30
    assert not s.complete and "truncated" in s.warnings[0]


def test_truncated_without_index_fails_clearly(tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 100)
    with pytest.raises(VideoReadError, match="cannot read video"):
        sample_frames(cut)


def test_duration_limit(clip: Path) -> None:
    with pytest.raises(MediaLimitError, match="limit"):
        sample_frames(clip, limits=MediaLimits(max_duration_s=1.0))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_stream_without_duration_is_measured_first(tmp_path: Path) -> None:
    """A raw H.264 elementary stream has no duration in any header."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i, f in enumerate(numbered_frames(30)):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    s = sample_frames(path, 5)
    assert len(s) == 5 and s.complete
    idx = [brightness_index(im) for im in s.images]
    assert idx[0] <= 6 and idx[-1] >= 24 and np.all(np.diff(idx) > 3)


def test_frame_sampler_yields_as_it_decodes(clip: Path) -> None:
    sampler = FrameSampler(clip, 5)
    got = [(i, round(t, 2)) for i, t, _ in sampler]
    assert got == [(3, 0.3), (9, 0.9), (15, 1.5), (21, 2.1), (27, 2.7)]
    assert sampler.info is not None and sampler.complete


@pytest.mark.parametrize("rotation", [0, 90])
def test_decoded_frames_shrink_upright_like_cv2(tmp_path: Path, rotation: int) -> None:
    import cv2

    rng = np.random.default_rng(0)
    frame = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (320, 240))
    frame[:40, :60] = 255  # marker in the top-left corner
    path = write_video(tmp_path / "r.mp4", [frame] * 3, rotation=rotation)
    decoded = next(FrameSampler(path, 1).decoded())
    rgb = decoded.rgb()
    assert decoded.shape == rgb.shape == ((320, 240, 3) if rotation else (240, 320, 3))
    h, w = rgb.shape[0] // 4, rgb.shape[1] // 4
    small = decoded.resized_bgr(w, h)
    assert small.shape == (h, w, 3)
    want = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)[..., ::-1]
    # the same picture (chroma is shrunk from the 4:2:0 planes, so colour edges differ a little)
    assert np.abs(small.astype(int) - want).mean() < 8
    assert np.corrcoef(small.ravel(), want.ravel())[0, 1] > 0.97
