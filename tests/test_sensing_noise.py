import numpy as np
import pytest

from implicit3d.sensing import (
    NOISE_PRESETS,
    Intrinsics,
    NoiseModel,
    estimate_normals,
    incidence_angle,
    look_at,
    noise_preset,
    render,
)

K = Intrinsics(fx=525.0, fy=525.0, cx=159.5, cy=119.5, width=320, height=240)


def _rays(k: Intrinsics) -> np.ndarray:
    vv, uu = np.mgrid[0 : k.height, 0 : k.width]
    r = np.stack([(uu - k.cx) / k.fx, (vv - k.cy) / k.fy, np.ones(uu.shape)], -1)
    return r / np.linalg.norm(r, axis=-1, keepdims=True)


def _only(**params) -> NoiseModel:
    return NoiseModel(name="test", **params)


def test_presets_exist_and_unknown_name():
    assert {"none", "kinect_v1", "realsense_d435"} <= set(NOISE_PRESETS)
    for name in ("none", "kinect_v1", "realsense_d435"):
        assert noise_preset(name).name == name
    assert noise_preset(None).name == "none"
    custom = NoiseModel(dropout_prob=0.1)
    assert noise_preset(custom) is custom
    with pytest.raises(ValueError, match="kinect_v1.*realsense_d435|realsense_d435.*kinect_v1"):
        noise_preset("kinect_v9")


def test_none_is_identity_and_seeded():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.3, 2.0, (K.height, K.width)).astype(np.float32)
    depth[:20] = 0
    np.testing.assert_array_equal(noise_preset("none").apply(depth, 0), depth)
    kin = noise_preset("kinect_v1")
    a, b, c = kin.apply(depth, 5), kin.apply(depth, 5), kin.apply(depth, 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # prepare-style call: noise(depth, intrinsics, rng)
    np.testing.assert_array_equal(kin(depth, K, np.random.default_rng(5)), kin.apply(depth, 5, intrinsics=K))
    assert a.dtype == np.float32 and (a[:20] == 0).all()
    assert (noise_preset("kinect_v1").apply(np.zeros((4, 5)), 0) == 0).all()


def test_model_validation():
    with pytest.raises(ValueError, match="dropout_prob"):
        NoiseModel(dropout_prob=1.5)
    with pytest.raises(ValueError, match="sigma_z_quad"):
        NoiseModel(sigma_z_quad=-1.0)
    with pytest.raises(ValueError, match="grazing"):
        NoiseModel(grazing_start_deg=80.0, grazing_end_deg=70.0)
    with pytest.raises(ValueError, match="focal_px"):
        NoiseModel(disparity_step_px=0.125)
    with pytest.raises(ValueError, match="H, W"):
        NoiseModel().apply(np.ones(5), 0)
    with pytest.raises(ValueError, match="depth_unit_m must be finite"):
        NoiseModel(depth_unit_m=float("inf"))
    with pytest.raises(ValueError, match="name must be a string"):
        NoiseModel(name=3)
    assert NoiseModel(max_depth_m=float("inf")).max_depth_m == float("inf")  # an unbounded range is fine


def test_sigma_formulas_match_literature():
    kin = noise_preset("kinect_v1")
    # Nguyen et al. 2012: 0.0012 + 0.0019 (z - 0.4)^2
    assert kin.sigma_z(1.5) == pytest.approx(0.0012 + 0.0019 * 1.1**2)
    # the angle term grows with theta
    assert kin.sigma_z(1.0, np.radians(70)) > kin.sigma_z(1.0, np.radians(10)) > kin.sigma_z(1.0)
    rs = noise_preset("realsense_d435")
    # Intel: RMS = z^2 * subpixel / (f * baseline), subpixel 0.08, f = 424 px, baseline 50 mm -> ~15 mm at 2 m
    assert rs.sigma_z(2.0) == pytest.approx(4.0 * 0.08 / (424 * 0.05))


@pytest.mark.parametrize("preset", ["kinect_v1", "realsense_d435"])
@pytest.mark.parametrize("z", [0.6, 1.5, 3.0])
def test_axial_noise_std_on_flat_plane(preset, z):
    base = noise_preset(preset)
    model = _only(
        sigma_z_const=base.sigma_z_const,
        sigma_z_quad=base.sigma_z_quad,
        sigma_z_offset=base.sigma_z_offset,
    )
    depth = np.full((K.height, K.width), z)
    noisy = model.apply(depth, np.random.default_rng(1), intrinsics=K).astype(np.float64)
    err = noisy - z
    sigma = float(base.sigma_z(z))
    assert abs(err.mean()) < 0.05 * sigma
    assert abs(err.std() / sigma - 1.0) < 0.10
    # with the angle term, residuals normalized by the per-pixel sigma(z, theta) are unit Gaussian
    if base.sigma_z_angle > 0:
        full = model.replace(sigma_z_angle=base.sigma_z_angle)
        normals = np.broadcast_to(np.array([0.0, 0.0, -1.0]), (K.height, K.width, 3))
        noisy = full.apply(depth, np.random.default_rng(2), normals=normals, intrinsics=K).astype(np.float64)
        theta = incidence_angle(normals, K)
        assert abs(((noisy - z) / full.sigma_z(z, theta)).std() - 1.0) < 0.10


def test_disparity_quantization_steps():
    model = noise_preset("kinect_v1")
    z = np.linspace(0.5, 5.0, 20000)
    q = model.replace(depth_unit_m=0.0).quantize(z)
    fb = model.focal_px * model.baseline_m
    disparity_units = fb / (q * model.disparity_step_px)
    np.testing.assert_allclose(disparity_units, np.rint(disparity_units), atol=1e-6)
    assert np.abs(q - z).max() <= 0.5 * (5.0**2) * model.disparity_step_px / fb * 1.05
    levels = np.unique(q)
    steps = np.diff(levels)
    mids = 0.5 * (levels[1:] + levels[:-1])
    # depth step ~ z^2 s / (f b): about 7 cm at 5 m for Kinect v1 (Khoshelham & Elberink 2012)
    np.testing.assert_allclose(steps, mids**2 * model.disparity_step_px / fb, rtol=0.02)
    assert 0.06 < steps[-1] < 0.08
    # then millimetre output
    mm = model.quantize(z)
    np.testing.assert_allclose(mm * 1000, np.rint(mm * 1000), atol=1e-6)
    assert model.quantize(np.array([0.0]))[0] == 0.0


def test_dropout_fraction():
    p = 0.1
    depth = np.full((K.height, K.width), 1.0)
    out = _only(dropout_prob=p).apply(depth, 3, intrinsics=K)
    frac = (out == 0).mean()
    n = depth.size
    assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(out[out > 0], 1.0)


def test_range_limits():
    depth = np.array([[0.2, 0.5, 3.0, 6.0]])
    out = _only(min_depth_m=0.4, max_depth_m=5.0).apply(depth, 0)
    np.testing.assert_array_equal(out, [[0.0, 0.5, 3.0, 0.0]])


def _normals_at_angle(theta_deg: float) -> np.ndarray:
    """Normals making exactly ``theta`` with every pixel's viewing ray."""
    r = _rays(K)
    t = np.cross(r, [1.0, 0.0, 0.0])
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    th = np.radians(theta_deg)
    return -np.cos(th) * r + np.sin(th) * t


@pytest.mark.parametrize("theta", [30.0, 72.5, 78.0, 89.0])
def test_grazing_angle_holes(theta):
    model = _only(grazing_start_deg=70.0, grazing_end_deg=85.0)
    normals = _normals_at_angle(theta)
    np.testing.assert_allclose(np.degrees(incidence_angle(normals, K)), theta, atol=1e-6)
    depth = np.full((K.height, K.width), 1.0)
    out = model.apply(depth, 4, normals=normals, intrinsics=K)
    expected = float(np.clip((theta - 70.0) / 15.0, 0.0, 1.0))
    frac = (out == 0).mean()
    assert abs(frac - expected) < 5 * np.sqrt(max(expected * (1 - expected), 1e-12) / depth.size) + 1e-12


def test_estimated_normals_match_rendered():
    import trimesh

    box = trimesh.creation.box(extents=[0.3, 0.3, 0.3])
    pose = look_at([0.6, 0.5, 0.4], [0, 0, 0])
    res = render(box, K, pose)
    est = estimate_normals(res.depth.astype(np.float64), K)
    good = np.linalg.norm(est, axis=-1) > 0
    interior = good & (res.face_index >= 0)
    dots = np.abs(np.einsum("hwc,hwc->hw", est, res.normals_cam))[interior]
    assert interior.sum() > 1000
    assert np.median(dots) > 0.999 and (dots > 0.99).mean() > 0.97


def test_reflective_holes():
    depth = np.full((K.height, K.width), 1.0)
    mask = np.zeros(depth.shape, bool)
    mask[:, : K.width // 2] = True
    out = _only(reflective_hole_prob=1.0).apply(depth, 0, reflective_mask=mask)
    assert (out[mask] == 0).all() and (out[~mask] == 1.0).all()
    half = _only(reflective_hole_prob=0.5).apply(depth, 0, reflective_mask=mask)
    assert abs((half[mask] == 0).mean() - 0.5) < 0.02 and (half[~mask] == 1.0).all()
    with pytest.raises(ValueError, match="reflective_mask"):
        _only().apply(depth, 0, reflective_mask=np.ones((3, 3), bool))


def _edge_reference(depth: np.ndarray, rel: float, tail: bool) -> np.ndarray:
    """Slow reference: a valid pixel whose 3x3 neighbourhood spans more than rel * z, or touches an empty pixel."""
    h, w = depth.shape
    out = np.zeros((h, w), bool)
    for v in range(h):
        for u in range(w):
            z = depth[v, u]
            if z <= 0:
                continue
            nb = depth[max(v - 1, 0) : v + 2, max(u - 1, 0) : u + 2]
            valid = nb[nb > 0]
            out[v, u] = valid.max() - valid.min() > rel * z or (tail and (nb <= 0).any())
    return out


@pytest.mark.parametrize("tail", [0.0, 0.05])
def test_flying_pixels_only_at_edges(tail):
    h, w = 60, 80
    depth = np.full((h, w), 1.0)
    depth[20:40, 25:55] = 0.5  # foreground box
    depth[:, 70:] = 0.0  # no return on the right
    model = _only(flying_prob=1.0, flying_edge_rel=0.05, flying_tail_m=tail)
    out = model.apply(depth, 0).astype(np.float64)
    changed = np.abs(out - depth) > 1e-6
    edges = _edge_reference(depth, 0.05, tail > 0)
    assert changed.sum() > 0.9 * edges.sum() > 0
    assert not (changed & ~edges).any()
    # values lie between the two sides of the edge
    assert (out[changed] >= 0.5 - 1e-6).all() and (out[changed] <= 1.0 + tail + 1e-6).all()
    assert (out[depth == 0] == 0).all()
    sometimes = _only(flying_prob=0.3, flying_edge_rel=0.05).apply(depth, 0)
    frac = (np.abs(sometimes - depth) > 1e-6)[_edge_reference(depth, 0.05, False)].mean()
    assert 0.2 < frac < 0.4


def test_lateral_noise_moves_edges_only():
    h, w = 60, 80
    depth = np.full((h, w), 1.0)
    depth[:, 40:] = 2.0
    out = _only(lateral_sigma_px=0.8).apply(depth, 0)
    changed = out != depth
    cols = np.nonzero(changed.any(axis=0))[0]
    assert changed.sum() > 20
    assert cols.min() >= 40 - 13 and cols.max() <= 40 + 12
    assert set(np.unique(out)) <= {1.0, 2.0}
    flat = np.full((h, w), 1.3)
    np.testing.assert_array_equal(_only(lateral_sigma_px=0.8).apply(flat, 0), np.float32(1.3))


def test_presets_on_rendered_view(bunny):
    m = bunny.copy()
    m.apply_translation(-m.bounds.mean(axis=0))
    m.apply_scale(0.1)
    pose = look_at([0.4, -0.3, 0.3], [0, 0, 0])
    res = render(m, K, pose)
    clean = res.depth
    for name in ("kinect_v1", "realsense_d435"):
        noisy = noise_preset(name).apply(clean, 0, normals=res.normals_cam, intrinsics=K)
        both = (clean > 0) & (noisy > 0)
        assert 0.7 * (clean > 0).sum() < both.sum()
        err = np.abs(noisy[both] - clean[both])
        assert 0.0 < np.median(err) < 0.01  # millimetres of noise at ~0.5 m
