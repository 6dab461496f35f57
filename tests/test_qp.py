"""QP mapping (known answers, speed) and map-file writers (round trips)."""

from __future__ import annotations

import io
import json
import struct
import time

import numpy as np
import pytest

from rt_saliency.errors import ConfigError, InputError
from rt_saliency.qp import (
    KvazaarRoiWriter,
    NdjsonWriter,
    NpyWriter,
    QPConfig,
    QPMapper,
    SvtAv1RoiWriter,
    block_activity,
    grid_shape,
    offsets_from_saliency,
    pool_blocks,
    rate_factor,
    read_kvazaar_roi,
    read_ndjson,
    read_svtav1_roi,
)
from rt_saliency.qp.aq import ac_energy, variance_aq_offsets
from rt_saliency.qp.mapping import DEFAULT_CRF, RATE_MODELS, RateModel, _area_matrix


def test_grid_shape_is_ceil_of_source_size() -> None:
    assert grid_shape((1080, 1920)) == (68, 120)
    assert grid_shape((1081, 1921)) == (68, 121)
    assert grid_shape((360, 640), 64) == (6, 10)
    with pytest.raises(InputError):
        grid_shape((0, 10))


def test_pool_blocks_exact_block_means_at_frame_resolution(rng: np.random.Generator) -> None:
    sal = rng.random((40, 24)).astype(np.float32)  # frame 40x24 -> grid 3x2, partial edges
    pooled = pool_blocks(sal, (40, 24), 16)
    assert pooled.shape == (3, 2)
    for r in range(3):
        for c in range(2):
            block = sal[r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]
            assert pooled[r, c] == pytest.approx(block.mean(), rel=1e-5)


def test_pool_blocks_low_resolution_map_and_constant() -> None:
    sal = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)  # each cell covers a 16x16 block
    np.testing.assert_allclose(pool_blocks(sal, (32, 32), 16), sal, atol=1e-6)
    const = np.full((224, 224), 0.3, np.float32)
    np.testing.assert_allclose(pool_blocks(const, (1080, 1920)), 0.3, atol=1e-6)
    # a 224-map over 1080p: left half salient -> the left 60 columns of blocks are 1
    half = np.zeros((224, 224), np.float32)
    half[:, :112] = 1.0
    pooled = pool_blocks(half, (1080, 1920))
    assert np.allclose(pooled[:, :60], 1.0) and np.allclose(pooled[:, 60:], 0.0)
    with pytest.raises(InputError):
        pool_blocks(np.zeros((2, 2, 2)), (32, 32))
    with pytest.raises(InputError):
        pool_blocks(np.full((4, 4), np.nan), (32, 32))


def test_log_mode_known_values_and_uniform_zero() -> None:
    pooled = np.array([[1.0, 0.5], [0.25, 0.25]], np.float32)
    cfg = QPConfig(strength=3.0, qp_min=-20, qp_max=20, floor=0.01, centre="none")
    expected = -3.0 * np.log2(pooled / pooled.mean())
    np.testing.assert_allclose(offsets_from_saliency(pooled, cfg), expected, rtol=1e-5)
    assert not offsets_from_saliency(np.full((5, 7), 0.4), cfg).any()
    # the most salient block gets the lowest (best) QP
    out = offsets_from_saliency(pooled, cfg)
    assert out[0, 0] == out.min() < 0


def test_linear_mode_clamp_floor_mean_zero() -> None:
    pooled = np.array([[0.8, 0.4], [0.4, 0.0]], np.float32)
    cfg = QPConfig(mode="linear", strength=4.0, floor=0.1, qp_min=-20, qp_max=20, centre="none")
    s = np.maximum(pooled, 0.1)
    np.testing.assert_allclose(offsets_from_saliency(pooled, cfg),
                               -4.0 * (s - s.mean()) / s.mean(), rtol=1e-5)
    clamped = offsets_from_saliency(pooled, QPConfig(strength=10.0, qp_min=-2, qp_max=3,
                                                     centre="none"))
    assert clamped.min() == -2 and clamped.max() == 3
    mz = offsets_from_saliency(np.array([[0.9, 0.5, 0.3, 0.2]]), QPConfig(centre="mean"))
    assert abs(float(mz.mean())) < 1e-5


def test_rate_centring_keeps_the_modelled_bits_of_a_flat_map(rng: np.random.Generator) -> None:
    """mean(2^(-offset/6)) = 1 (weighted by the bit shares when given), clamp included; a
    2-block map with one doubled-saliency block has a closed form."""
    two = offsets_from_saliency(np.array([[0.8, 0.4]]), QPConfig(strength=3.0, qp_min=-20,
                                                                 qp_max=20))
    # offsets -3*log2(s/mean) + c with 2^(-o/6) averaging to 1
    raw = -3.0 * np.log2(np.array([0.8, 0.4]) / 0.6)
    c = 6.0 * np.log2(np.mean(np.exp2(-raw / 6.0)))
    np.testing.assert_allclose(two[0], raw + c, atol=1e-5)
    pooled = rng.random((36, 64)).astype(np.float32) ** 3
    for activity in (None, rng.random((36, 64)) + 0.01):
        share = None if activity is None else activity / activity.sum()
        for lo, hi in ((-8.0, 8.0), (-3.0, 12.0), (-12.0, 2.0)):
            out = offsets_from_saliency(pooled, QPConfig(qp_min=lo, qp_max=hi), share)
            assert out.min() >= lo and out.max() <= hi
            assert rate_factor(out, share) == pytest.approx(1.0, abs=1e-6)
    assert rate_factor(np.zeros((3, 3))) == 1.0
    assert rate_factor(np.full((2, 2), 6.0)) == pytest.approx(0.5)


def test_block_activity_is_the_change_since_the_previous_frame() -> None:
    still = np.zeros((64, 64), np.float32)
    moved = still.copy()
    moved[:16, :16] = np.indices((16, 16)).sum(axis=0) % 2  # texture appeared top left
    share = block_activity(moved, still, (64, 64), 16)
    assert share.shape == (4, 4) and share.sum() == pytest.approx(1.0)
    assert share[0, 0] == share.max() and share[3, 3] == share.min() > 0
    # the first frame: texture (gradient) instead of change
    first = block_activity(moved, None, (64, 64), 16)
    assert first[0, 0] > first[3, 3]
    with pytest.raises(InputError):
        offsets_from_saliency(np.ones((2, 2)) * [1, 2], QPConfig(), np.ones((3, 3)))


def test_mapping_under_one_ms_for_a_1080p_grid(rng: np.random.Generator) -> None:
    pooled = rng.random((68, 120)).astype(np.float32)
    cfg = QPConfig()
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        offsets_from_saliency(pooled, cfg)
        times.append(time.perf_counter() - t0)
    assert min(times) < 1e-3, f"best of 50: {min(times) * 1e3:.3f} ms"


def test_mapper_temporal_smoothing() -> None:
    mapper = QPMapper((32, 32), QPConfig(temporal_alpha=0.5, qp_min=-20, qp_max=20))
    a = np.array([[1.0, 0.5], [0.25, 0.25]], np.float32)
    b = a[::-1, ::-1].copy()
    first = mapper(a)
    second = mapper(b)
    raw_b = offsets_from_saliency(b, mapper.config)
    np.testing.assert_allclose(second, 0.5 * first + 0.5 * raw_b, rtol=1e-5)
    mapper.reset()
    np.testing.assert_allclose(mapper(b), raw_b, rtol=1e-6)
    assert mapper.shape == (2, 2)


@pytest.mark.parametrize("kwargs", [{"block": 12}, {"mode": "sqrt"}, {"strength": -1},
                                    {"qp_min": 1}, {"floor": 0}, {"temporal_alpha": 1.0}])
def test_bad_config_is_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        QPConfig(**kwargs)


def test_ndjson_round_trip_and_record_format(rng: np.random.Generator) -> None:
    grid = (rng.random((3, 4)) * 16 - 8).astype(np.float32)
    buf = io.StringIO()
    with NdjsonWriter(buf) as w:
        w.write(0, grid, pts=0)
        w.write_dropped(1)
        w.write(2, grid, pts=0.2)
    lines = buf.getvalue().splitlines()
    first = json.loads(lines[0])
    assert list(first) == ["frame", "pts", "block", "cols", "rows", "qp"]
    assert (first["cols"], first["rows"], first["block"]) == (4, 3, 16)
    assert json.loads(lines[1]) == {"frame": 1, "dropped": True}
    records = list(read_ndjson(io.StringIO(buf.getvalue())))
    np.testing.assert_allclose(records[0]["qp"], grid, atol=0.005 + 1e-6)
    assert records[2]["pts"] == 0.2 and records[1]["dropped"] is True


def test_npy_round_trip(tmp_path, rng: np.random.Generator) -> None:
    grid = rng.random((5, 6)).astype(np.float32)
    with NpyWriter(tmp_path / "maps") as w:
        w.write(7, grid)
    assert (tmp_path / "maps" / "frame_000007.npy").is_file()
    np.testing.assert_array_equal(NpyWriter(tmp_path / "maps").read(7), grid)


def test_kvazaar_binary_round_trip(tmp_path) -> None:
    a = np.array([[-1.4, 2.6, 99.0], [0.0, -60.0, 3.5]], np.float32)
    b = np.zeros((1, 2), np.float32)
    path = tmp_path / "roi.bin"
    with KvazaarRoiWriter(path) as w:
        w.write(0, a)
        w.write(1, b)
    raw = path.read_bytes()
    assert struct.unpack_from("<ii", raw, 0) == (3, 2)  # width, height first
    assert len(raw) == 8 + 6 + 8 + 2
    maps = read_kvazaar_roi(path)
    np.testing.assert_array_equal(maps[0], [[-1, 3, 51], [0, -51, 4]])
    np.testing.assert_array_equal(maps[1], [[0, 0]])
    with pytest.raises(InputError):
        read_kvazaar_roi(raw[:-1])


def test_svtav1_roi_pools_to_superblocks(tmp_path) -> None:
    # 128x192 frame: 16x16 grid 8x12, 64x64 grid 2x3
    grid = np.zeros((8, 12), np.float32)
    grid[:4, :4] = -2.0  # the top-left superblock
    grid[4:, 8:] = 1.0   # the bottom-right superblock
    path = tmp_path / "roi.txt"
    with SvtAv1RoiWriter(path, (128, 192)) as w:
        w.write(0, grid)
        w.write(5, np.zeros_like(grid))
    assert path.read_text().splitlines()[0] == "0 -8 0 0 0 0 4"
    maps = read_svtav1_roi(path, (128, 192))
    np.testing.assert_array_equal(maps[0], [[-8, 0, 0], [0, 0, 4]])
    assert set(maps) == {0, 5} and not maps[5].any()


def test_the_rate_constants_follow_the_codec_and_crf_unless_set() -> None:
    assert QPConfig().base_share is None and QPConfig().rate_octave is None
    for codec, model in RATE_MODELS.items():
        for crf, share in model.shares:
            resolved = QPConfig().for_codec(codec, crf)
            assert resolved.base_share == pytest.approx(share)
            assert resolved.rate_octave == model.octave
    assert QPConfig().for_codec("vp9").base_share == RATE_MODELS["h264"].base_share()
    set_by_hand = QPConfig(base_share=1.3, rate_octave=4.0).for_codec("hevc", 33.0)
    assert (set_by_hand.base_share, set_by_hand.rate_octave) == (1.3, 4.0)
    with pytest.raises(ConfigError):
        QPConfig(base_share=0.0)
    with pytest.raises(ConfigError):
        QPConfig(rate_octave=-1.0)


def test_the_base_share_is_interpolated_in_log_between_crfs() -> None:
    model = RateModel(6.0, ((20.0, 0.5), (30.0, 2.0)))
    assert model.base_share(25.0) == pytest.approx(1.0)  # geometric mean half-way
    assert model.base_share(10.0) == 0.5 and model.base_share(40.0) == 2.0  # held outside
    assert model.base_share(None) == pytest.approx(model.base_share(DEFAULT_CRF))


def test_a_steeper_rate_model_centres_salient_offsets_higher() -> None:
    """With bits halving every 3 QP instead of 6, the negative offsets of the salient blocks
    weigh more, so the frame's shift is larger (fewer bits spent)."""
    pooled = np.array([[0.9, 0.1, 0.1, 0.1]], np.float32)
    six = offsets_from_saliency(pooled, QPConfig(rate_octave=6.0))
    three = offsets_from_saliency(pooled, QPConfig(rate_octave=3.0))
    assert np.all(three > six)
    assert rate_factor(three, octave=3.0) == pytest.approx(1.0, abs=1e-6)


def test_a_rate_bias_aims_at_the_bits_of_a_flat_map_that_many_qp_higher() -> None:
    """Known answer: the centred offsets' modelled bits are 2^(-bias/octave), clamped or not."""
    pooled = np.array([[0.9, 0.4, 0.1, 0.1], [0.05, 0.3, 0.2, 0.6]], np.float32)
    for bias in (0.0, 1.5, -2.0):
        for octave in (6.0, 3.0):
            offsets = offsets_from_saliency(pooled, QPConfig(rate_octave=octave, rate_bias=bias))
            assert rate_factor(offsets, octave=octave) == pytest.approx(2 ** (-bias / octave),
                                                                        rel=1e-6)
    clamped = offsets_from_saliency(pooled, QPConfig(strength=6.0, qp_min=-3, qp_max=3,
                                                     rate_bias=1.0))
    assert clamped.min() == -3.0 and rate_factor(clamped) == pytest.approx(2 ** (-1 / 6), rel=1e-6)
    with pytest.raises(ConfigError):
        QPConfig(rate_bias=float("nan"))


def test_ac_energy_known_answers_and_edge_padding() -> None:
    flat = np.full((32, 32), 200, np.uint8)
    checker = ((np.indices((16, 16)).sum(axis=0) % 2) * 255).astype(np.uint8)
    luma = flat.copy()
    luma[:16, 16:] = checker
    energy = ac_energy(luma)
    # sum of squares minus squared sum over the block: 128 * 255^2 - (128 * 255)^2 / 256
    assert energy.tolist() == [[0.0, 128 * 255**2 - (128 * 255) ** 2 / 256], [0.0, 0.0]]
    # a 20x20 frame: its edge blocks repeat the last row and column, as x264 pads
    ramp = np.tile(np.arange(20, dtype=np.uint8), (20, 1))
    padded = np.pad(ramp, ((0, 12), (0, 12)), mode="edge").astype(np.float64)
    blocks = padded.reshape(2, 16, 2, 16)
    want = np.square(blocks).sum(axis=(1, 3)) - blocks.sum(axis=(1, 3)) ** 2 / 256
    np.testing.assert_allclose(ac_energy(ramp), want)
    # 4:2:0 chroma: 8x8 blocks co-sited with the 16x16 luma blocks add their energy
    chroma = np.zeros((16, 16), np.uint8)
    chroma[:8, :8] = checker[:8, :8]
    with_chroma = ac_energy(luma, (chroma, chroma))
    assert with_chroma[0, 0] == 2 * (32 * 255**2 - (32 * 255) ** 2 / 64)
    assert with_chroma[0, 1] == energy[0, 1]


def test_variance_aq_offsets_follow_x264_formula() -> None:
    energy = np.array([[0.0, 2.0**14.427, 2.0**20]])
    out = variance_aq_offsets(energy, 1.0)
    np.testing.assert_allclose(out, 1.0397 * (np.array([[0.0, 14.427, 20.0]]) - 14.427))
    np.testing.assert_allclose(variance_aq_offsets(energy, -0.75), -0.75 * out)
    np.testing.assert_allclose(variance_aq_offsets(energy, 1.0, bit_depth=10), out - 4 * 1.0397)  # reference + 2 per bit


def test_the_mapper_prices_a_lower_encoder_aq_strength_block_by_block() -> None:
    """With planes, the centred offsets plus the AQ change x264 makes keep the modelled bits
    of a flat map; on a textured picture (whose QPs a lower AQ strength lowers) the offsets
    rise to pay for it."""
    rng = np.random.default_rng(3)
    luma = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    saliency = np.ones((64, 64), np.float32)
    saliency[:32, :32] = 4.0
    config = QPConfig(aq_strength=0.25).for_codec("h264", 23.0)
    assert config.aq_change == -0.75 and QPConfig(strength=0).for_codec("h264").aq_change == 0
    assert QPConfig().for_codec("hevc").aq_change == 0.0  # x265's AQ is not modelled
    lowered = QPConfig(aq_strength=0.25)
    assert lowered.for_codec("h264", aq_mode=1).aq_change == -0.75
    assert lowered.for_codec("h264", aq_mode=2).aq_change == 0.0  # only mode 1 is modelled
    assert lowered.for_codec("h264", encoder_aq_strength=0.5).aq_change == 0.0  # user's wins
    with_planes = QPMapper((64, 64), config)(saliency, None, (luma,))
    without = QPMapper((64, 64), config)(saliency, None)
    delta = variance_aq_offsets(ac_energy(luma), -0.75)
    k = np.log(2) / 6.0
    modelled = np.mean(np.exp(-k * (with_planes.astype(np.float64) + delta)))
    assert modelled == pytest.approx(1.0, rel=1e-5)
    assert QPConfig(aq_strength=None).for_codec("h264").aq_change == 0.0  # the codec's own AQ
    default = QPConfig().for_codec("h264")  # "auto": x264's 0.25 under a map, priced
    assert default.aq_strength == 0.25 and default.aq_change == -0.75
    assert QPConfig().for_codec("hevc").aq_strength is None
    assert np.all(with_planes > without)  # the textured half's lower AQ QP is paid for


@pytest.mark.parametrize("size", [(1081, 1921), (720, 1280), (17, 33), (8, 8)])
def test_a_frame_sized_map_pools_as_the_area_matrices_do(size: tuple[int, int]) -> None:
    """The O(pixels) path for a map at the frame's own size (the coded luma of the bit shares)
    gives the exact area means the general path gives (edge blocks over their inside pixels)."""
    h, w = size
    image = np.random.default_rng(7).random(size, dtype=np.float32) * 255
    expected = _area_matrix(h, h, 16) @ image @ _area_matrix(w, w, 16).T
    np.testing.assert_allclose(pool_blocks(image, size), expected, rtol=1e-5, atol=1e-4)
