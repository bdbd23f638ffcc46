"""Tests of implicit3d.models: shapes, gradients, configs, sampling/scatter vs slow references, overfitting."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from implicit3d.models import (
    ConvONetGridConfig,
    create_model,
    create_model_from_config,
    get_config,
    list_models,
    load_config,
)
from implicit3d.models.decoders import displacements
from implicit3d.models.sampling import (
    grid_index,
    half_extent,
    plane_axes,
    plane_index,
    sample_grid,
    sample_plane,
    scatter_max,
    scatter_mean,
    voxelize,
)
from implicit3d.typed_config import packaged_configs

SMALL = ["occnet_small", "conv_onet_planes_small", "conv_onet_grid_small", "ifnet_small"]
FULL = ["occnet", "conv_onet_planes", "conv_onet_grid", "ifnet"]
CONFIGS = sorted(packaged_configs().values())  # the package's run files (configs/ in a checkout links to them)
PAD = 0.1


def _cloud(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, n, 3, generator=g) - 0.5) * 0.9


def _sphere(n_in: int = 512, n_query: int = 2048, r: float = 0.3, seed: int = 0):
    """Surface cloud of a sphere (1, n_in, 3), query points (1, n_query, 3) in the padded box, occupancy, SDF."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n_in, 3, generator=g)
    surface = d / d.norm(dim=1, keepdim=True) * r
    q = (torch.rand(n_query, 3, generator=g) - 0.5) * 2 * half_extent(PAD)
    sdf = q.norm(dim=1) - r
    return surface[None], q[None], (sdf < 0).float()[None], sdf[None]


# --- registry and configs -------------------------------------------------------------------------------------


def test_registry_lists_every_family_and_size():
    names = list_models()
    for n in FULL + SMALL:
        assert n in names
    assert list_models("*_small") == sorted(SMALL)


def test_size_keyword_selects_the_small_preset():
    a = create_model("conv_onet_grid", size="small")
    b = create_model("conv_onet_grid_small")
    assert a.config == b.config
    assert create_model("ifnet_small", size="full").config == get_config("ifnet").to_dict()
    with pytest.raises(ValueError, match="size"):
        create_model("ifnet", size="huge")


def test_full_defaults_follow_the_papers():
    occ = get_config("occnet")
    assert (occ.c_dim, occ.encoder_hidden, occ.decoder_hidden, occ.decoder_blocks) == (512, 512, 256, 5)
    planes = get_config("conv_onet_planes")
    assert planes.planes == ("xz", "xy", "yz") and planes.plane_resolution == 64
    assert (planes.c_dim, planes.encoder_hidden, planes.decoder_hidden, planes.unet_depth) == (32, 32, 32, 4)
    grid = get_config("conv_onet_grid")
    assert (grid.grid_resolution, grid.unet_levels, grid.unet_filters) == (32, 3, 32)
    ifn = get_config("ifnet")
    assert ifn.resolution == 128 and ifn.channels == (16, 32, 64, 128, 128) and ifn.decoder_hidden == 256


def test_unknown_names_and_keys_raise():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(ValueError, match="hidden_size"):
        create_model("occnet_small", hidden_size=3)
    with pytest.raises(ValueError, match="output"):
        create_model("occnet_small", output="probability")
    with pytest.raises(ValueError, match="divisible"):
        create_model("conv_onet_grid_small", grid_resolution=18)
    with pytest.raises(ValueError, match="planes"):
        create_model("conv_onet_planes_small", planes=["xz", "xw"])
    with pytest.raises(ValueError, match="needs a name"):
        create_model_from_config({"output": "sdf"})


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_yaml_configs_load_and_build(path):
    cfg = load_config(path)
    if path.stem in list_models():  # one file per registered model, spelling out its preset
        assert cfg.name == path.stem
        assert cfg.to_dict() == get_config(path.stem).to_dict()
    else:  # other run files (e.g. bundled.yaml, the shipped model's) use a registered model as it is
        assert cfg.name in list_models()
        assert cfg.to_dict() == get_config(cfg.name).to_dict()


def test_shipped_configs_load_by_name_from_anywhere(tmp_path, monkeypatch):
    """The docs' ``load_config("configs/conv_onet_grid_small.yaml")`` works for a pip user (no configs/ folder in
    the working directory): the packaged file of that name is read; an unknown name lists the shipped ones."""
    monkeypatch.chdir(tmp_path)
    for spelling in ("configs/conv_onet_grid_small.yaml", "conv_onet_grid_small", "conv_onet_grid_small.yaml"):
        assert load_config(spelling).to_dict() == get_config("conv_onet_grid_small").to_dict()
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml not found \(shipped: .*ifnet_small"):
        load_config("nope.yaml")
    for mistyped in ("elsewhere/conv_onet_grid_small.yaml", str(tmp_path / "configs" / "conv_onet_grid_small.yaml")):
        with pytest.raises(FileNotFoundError):  # a path into another folder is not a shipped name
            load_config(mistyped)


def test_yaml_unknown_key_names_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: conv_onet_grid_small\n  grid_res: 16\n")
    with pytest.raises(ValueError, match=r"grid_res") as info:
        load_config(path)
    assert str(path) in str(info.value)
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: ifnet_small\noutput: sdf\nchannels: [4, 8]\n")
    cfg = load_config(bare)
    assert cfg.output == "sdf" and cfg.channels == (4, 8)
    bad_type = tmp_path / "type.yaml"
    bad_type.write_text("name: occnet_small\nc_dim: lots\n")
    with pytest.raises(ValueError, match="c_dim"):
        load_config(bad_type)


def test_config_is_json_and_typed_dataclass():
    model = create_model("conv_onet_grid_small", output="sdf")
    cfg = json.loads(json.dumps(model.config))
    assert cfg["name"] == "conv_onet_grid_small" and cfg["output"] == "sdf"
    assert isinstance(model.cfg, ConvONetGridConfig)


# --- forward shapes, gradients, heads -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("batch", [1, 4])
def test_output_shapes(name, batch):
    torch.manual_seed(0)
    model = create_model(name)
    inputs, points = _cloud(batch, 300, 1), _cloud(batch, 50, 2)
    out = model(inputs, points)
    assert out.shape == (batch, 50) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        c = model.encode(inputs)
        assert torch.allclose(model.decode(points, c), model(inputs, points), atol=1e-6)
        # one encoding serves query batches of any size
        assert model.decode(points[:, :7], c).shape == (batch, 7)


@pytest.mark.parametrize("name", SMALL)
def test_gradients_reach_encoder_and_decoder(name):
    torch.manual_seed(0)
    model = create_model(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    # Zero-initialised layers (identity ResNet blocks, CBN gamma/beta maps as in the references) can block some
    # paths at step 0; after one update every part must receive gradient.
    for _ in range(2):
        opt.zero_grad()
        loss = (model(_cloud(2, 200, 3), _cloud(2, 64, 4)) - 1.0).square().mean()
        loss.backward()
        opt.step()
    for part in (model.encoder, model.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0


def test_detail_planes_add_to_the_grid_and_start_at_zero():
    torch.manual_seed(0)
    plain = create_model("conv_onet_grid_small")
    grown = create_model("conv_onet_grid_small", detail_resolution=32)
    assert grown.config["detail_resolution"] == 32 and plain.config["detail_resolution"] == 0
    assert plain.detail is None
    missing, unexpected = grown.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith(("detail.", "detail_out.")) for k in missing)
    inputs, points = _cloud(2, 300, 1), _cloud(2, 80, 2)
    plain.eval(), grown.eval()
    with torch.no_grad():
        maps = grown.encode(inputs)
        assert sorted(maps) == ["grid", "xy", "xz", "yz"] and maps["xy"].shape == (2, 32, 32, 32)
        # the zero-initialized 1x1 output: the grown model computes exactly what the plain one did
        assert torch.equal(grown(inputs, points), plain(inputs, points))
    grown.train()
    opt = torch.optim.SGD(grown.parameters(), lr=1e-2)
    for _ in range(2):  # the zero output gets gradient first, then the planes behind it
        opt.zero_grad()
        (grown(inputs, points) - 1.0).square().mean().backward()
        opt.step()
    assert float(grown.detail_out.weight.detach().abs().sum()) > 0
    assert sum(float(p.grad.abs().sum()) for p in grown.detail.parameters()) > 0
    with torch.no_grad():
        assert not torch.equal(grown.eval()(inputs, points), plain(inputs, points))


@pytest.mark.parametrize("bad", [dict(detail_resolution=-1), dict(detail_resolution=30, detail_levels=3),
                                 dict(detail_resolution=32, detail_filters=0)])
def test_detail_planes_settings_are_checked(bad):
    with pytest.raises(ValueError, match="detail_"):
        create_model("conv_onet_grid_small", **bad)


def test_sdf_head_fits_a_sphere_sdf():
    torch.manual_seed(0)
    model = create_model("conv_onet_grid_small", output="sdf")
    assert model.output == "sdf"
    surface, q, _, sdf = _sphere(256, 512)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(40):
        loss = (model(surface, q) - sdf).abs().mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_bad_inputs_raise():
    model = create_model("occnet_small")
    with pytest.raises(ValueError, match=r"inputs must be shaped \(B, K, 3\)"):
        model(torch.zeros(10, 3), torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="batch size"):
        model(torch.zeros(2, 10, 3), torch.zeros(3, 5, 3))
    with pytest.raises(TypeError, match="floating"):
        model(torch.zeros(1, 10, 3, dtype=torch.long), torch.zeros(1, 5, 3))
    with pytest.raises(TypeError, match="torch.Tensor"):
        model(np.zeros((1, 10, 3), np.float32), torch.zeros(1, 5, 3))
    bad = torch.zeros(1, 10, 3)
    bad[0, 3] = float("nan")
    with pytest.raises(ValueError, match="inputs holds NaN or infinite coordinates"):
        model(bad, torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="the features c are empty"):
        create_model("conv_onet_grid_small").decode(torch.zeros(1, 5, 3), {})


def test_ifnet_reads_its_pyramid_by_key():
    model = create_model("ifnet_small").eval()
    g = torch.Generator().manual_seed(0)
    x, q = torch.rand(1, 64, 3, generator=g) - 0.5, torch.rand(1, 20, 3, generator=g) - 0.5
    with torch.no_grad():
        c = model.encode(x)
        shuffled = dict(reversed(list(c.items())))
        torch.testing.assert_close(model.decode(q, shuffled), model.decode(q, c))
        with pytest.raises(ValueError, match="keyed s0, s1"):
            model.decode(q, {"a": c["s0"]})


def test_far_points_go_to_the_border_cells_and_queries_keep_their_precision_under_autocast():
    """Coordinates beyond int64 land in the border cell, not cell 0; under bf16 autocast a query is sampled at its
    own float32 position (cast to bf16, queries 1/20 cell apart at 128 cells fell on a few values)."""
    from implicit3d.models.sampling import cell_coords

    for v in (1e19, float("inf")):
        assert cell_coords(torch.full((1, 1, 3), v), 32, PAD).tolist() == [[[31, 31, 31]]]
        assert cell_coords(torch.full((1, 1, 3), -v), 32, PAD).tolist() == [[[0, 0, 0]]]
    res = 128
    vol = torch.randn(1, 2, res, res, res, generator=torch.Generator().manual_seed(1)).bfloat16()
    xs = 0.3 + torch.arange(100) * (2 * half_extent(PAD) / res / 20)
    q = torch.stack([xs, torch.full_like(xs, 0.1234), torch.full_like(xs, -0.2345)], -1)[None]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = sample_grid(vol, q, PAD)
    torch.testing.assert_close(fast.float(), sample_grid(vol.float(), q, PAD), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", [*SMALL, "detail"])
def test_float64_points_are_cast_to_the_models_dtype(name):
    """``torch.from_numpy`` gives float64: every family takes it, with the float32 answer."""
    torch.manual_seed(0)
    if name == "detail":  # a grid model with detail planes: their own encoder gets the cast points too
        model = create_model("conv_onet_grid_small", detail_resolution=16, detail_levels=2).eval()
        torch.nn.init.normal_(model.detail_out.weight)  # not the zero output of a freshly grown model
    else:
        model = create_model(name).eval()
    x, q = torch.rand(2, 200, 3) - 0.5, torch.rand(2, 30, 3) - 0.5
    with torch.no_grad():
        want = model(x, q)
        got = model(x.double(), q.double())
        mixed = model.decode(q.double(), model.encode(x.double()))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed, want, atol=1e-5, rtol=1e-5)


# --- round trip and invariances -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_config_round_trip_rebuilds_identical_model(name):
    torch.manual_seed(0)
    model = create_model(name)
    model(_cloud(2, 100, 5), _cloud(2, 30, 6))  # a training-mode pass moves the batch-norm running stats
    cfg = json.loads(json.dumps(model.config))
    torch.manual_seed(123)
    clone = create_model_from_config(cfg)
    a, b = model.state_dict(), clone.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    clone.load_state_dict(a)
    model.eval()
    clone.eval()
    inputs, points = _cloud(2, 100, 7), _cloud(2, 40, 8)
    with torch.no_grad():
        assert torch.equal(model(inputs, points), clone(inputs, points))


@pytest.mark.parametrize("name", SMALL)
def test_permutation_invariance(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    inputs, points = _cloud(2, 256, 9), _cloud(2, 40, 10)
    perm = torch.randperm(256)
    with torch.no_grad():
        a = model(inputs, points)
        b = model(inputs[:, perm], points)
        # query points are independent of each other (eval mode)
        qperm = torch.randperm(40)
        c = model(inputs, points[:, qperm])
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[:, qperm], c, atol=1e-5, rtol=1e-5)


def test_batch_elements_are_independent_in_eval_mode():
    model = create_model("conv_onet_planes_small").eval()
    inputs, points = _cloud(3, 128, 11), _cloud(3, 20, 12)
    with torch.no_grad():
        full = model(inputs, points)
        one = model(inputs[1:2], points[1:2])
    torch.testing.assert_close(full[1:2], one, atol=1e-5, rtol=1e-5)


# --- sampling and scatter vs slow references ------------------------------------------------------------------


def _lerp_index(coord: float, res: int, padding: float) -> tuple[int, int, float]:
    """Reference: cell centres at -h + (i + 0.5) s, border clamping -> (i0, i1, weight of i1)."""
    h = half_extent(padding)
    s = 2 * h / res
    u = (coord + h) / s - 0.5
    u = min(max(u, 0.0), res - 1.0)
    i0 = int(math.floor(u))
    i1 = min(i0 + 1, res - 1)
    return i0, i1, u - i0


def _ref_bilinear(fmap: np.ndarray, a: float, b: float, padding: float) -> np.ndarray:
    """fmap (C, R_b, R_a); first plane axis = columns."""
    res = fmap.shape[-1]
    a0, a1, wa = _lerp_index(a, res, padding)
    b0, b1, wb = _lerp_index(b, res, padding)
    return (
        fmap[:, b0, a0] * (1 - wa) * (1 - wb)
        + fmap[:, b0, a1] * wa * (1 - wb)
        + fmap[:, b1, a0] * (1 - wa) * wb
        + fmap[:, b1, a1] * wa * wb
    )


def _ref_trilinear(vol: np.ndarray, p: np.ndarray, padding: float) -> np.ndarray:
    """vol (C, R_z, R_y, R_x)."""
    res = vol.shape[-1]
    (x0, x1, wx), (y0, y1, wy), (z0, z1, wz) = (_lerp_index(float(v), res, padding) for v in p)
    out = 0
    for zi, fz in ((z0, 1 - wz), (z1, wz)):
        for yi, fy in ((y0, 1 - wy), (y1, wy)):
            for xi, fx in ((x0, 1 - wx), (x1, wx)):
                out = out + vol[:, zi, yi, xi] * fz * fy * fx
    return out


def _probe_points() -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    pts = (torch.rand(1, 12, 3, generator=g) - 0.5) * 1.3  # some beyond the padded box (border clamping)
    extra = torch.tensor([[[0.0, 0.0, 0.0], [-0.55, 0.55, -0.55], [0.549, -0.2, 0.31], [0.6, -0.6, 0.0]]])
    return torch.cat([pts, extra], dim=1).double()


@pytest.mark.parametrize("plane", ["xz", "xy", "yz"])
def test_sample_plane_matches_manual_bilinear(plane):
    g = torch.Generator().manual_seed(1)
    fmap = torch.rand(1, 4, 8, 8, generator=g, dtype=torch.float64)
    pts = _probe_points()
    got = sample_plane(fmap, pts, plane, PAD)[0].numpy()
    a, b = plane_axes(plane)
    for i, p in enumerate(pts[0].numpy()):
        np.testing.assert_allclose(got[i], _ref_bilinear(fmap[0].numpy(), p[a], p[b], PAD), atol=1e-10)


def test_sample_grid_matches_manual_trilinear():
    g = torch.Generator().manual_seed(2)
    vol = torch.rand(1, 3, 6, 6, 6, generator=g, dtype=torch.float64)
    pts = _probe_points()
    got = sample_grid(vol, pts, PAD)[0].numpy()
    for i, p in enumerate(pts[0].numpy()):
        np.testing.assert_allclose(got[i], _ref_trilinear(vol[0].numpy(), p, PAD), atol=1e-10)


def test_scatter_and_sampling_use_the_same_cells():
    """A feature scattered from a point is read back exactly at that cell's centre (layout consistency)."""
    res = 8
    h = half_extent(PAD)
    centres = -h + (torch.arange(res, dtype=torch.float64) + 0.5) * 2 * h / res
    g = torch.Generator().manual_seed(3)
    idx = torch.randint(0, res, (1, 20, 3), generator=g)
    pts = centres[idx]  # (1, 20, 3) points at cell centres
    feats = torch.rand(1, 20, 2, generator=g, dtype=torch.float64)
    for plane in ("xz", "xy", "yz"):
        cells = scatter_mean(feats, plane_index(pts, plane, res, PAD), res * res)
        fmap = cells.transpose(1, 2).reshape(1, 2, res, res)
        back = sample_plane(fmap, pts, plane, PAD)
        torch.testing.assert_close(
            back, cells.gather(1, plane_index(pts, plane, res, PAD)[..., None].expand(-1, -1, 2))
        )
    cells = scatter_mean(feats, grid_index(pts, res, PAD), res**3)
    vol = cells.transpose(1, 2).reshape(1, 2, res, res, res)
    back = sample_grid(vol, pts, PAD)
    torch.testing.assert_close(back, cells.gather(1, grid_index(pts, res, PAD)[..., None].expand(-1, -1, 2)))


def test_cell_index_layout():
    h = half_extent(PAD)
    p = torch.tensor([[[-h + 1e-6, -h + 1e-6, h - 1e-6], [h + 1.0, 0.0, -h - 1.0]]])
    # x in cell 0, y in cell 0, z in cell R-1 -> flat index x + R (y + R z)
    assert grid_index(p, 4, PAD)[0, 0] == 0 + 4 * (0 + 4 * 3)
    assert grid_index(p, 4, PAD)[0, 1] == 3 + 4 * (2 + 4 * 0)  # outside points are clamped into border cells
    assert plane_index(p, "xz", 4, PAD)[0, 0] == 0 + 4 * 3
    assert plane_index(p, "yz", 4, PAD)[0, 1] == 2 + 4 * 0


def test_scatter_mean_and_max_match_loops():
    g = torch.Generator().manual_seed(4)
    b, n, c, size = 2, 50, 3, 10
    src = torch.randn(b, n, c, generator=g, dtype=torch.float64)
    index = torch.randint(0, size - 2, (b, n), generator=g)  # the last two cells stay empty
    mean, mx = scatter_mean(src, index, size), scatter_max(src, index, size)
    ref_mean = torch.zeros(b, size, c, dtype=torch.float64)
    ref_max = torch.zeros(b, size, c, dtype=torch.float64)
    for i in range(b):
        for k in range(size):
            members = src[i, index[i] == k]
            if len(members):
                ref_mean[i, k] = members.mean(0)
                ref_max[i, k] = members.max(0).values
    torch.testing.assert_close(mean, ref_mean)
    torch.testing.assert_close(mx, ref_max)
    # gradients flow through the scatter
    src.requires_grad_(True)
    scatter_mean(src, index, size).sum().backward()
    assert src.grad is not None and src.grad.abs().sum() > 0


def test_voxelize_matches_loop():
    pts = _cloud(2, 40, 13)
    res = 8
    vox = voxelize(pts, res, PAD)
    ref = torch.zeros(2, 1, res, res, res)
    h = half_extent(PAD)
    for bi in range(2):
        for p in pts[bi]:
            ix, iy, iz = (min(max(int(math.floor((float(v) + h) / (2 * h) * res)), 0), res - 1) for v in p)
            ref[bi, 0, iz, iy, ix] = 1.0
    assert torch.equal(vox, ref)


def test_ifnet_displacements():
    d = displacements(0.05)
    assert d.shape == (7, 3)
    assert torch.equal(d[0], torch.zeros(3))
    assert torch.allclose(d[1:].abs().sum(1), torch.full((6,), 0.05))
    assert torch.allclose(d.sum(0), torch.zeros(3))


# --- overfitting a single shape -------------------------------------------------------------------------------


def _overfit(name: str, steps: int, lr: float = 1e-3) -> float:
    torch.manual_seed(0)
    model = create_model(name)
    surface, q, occ, _ = _sphere()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best = 0.0
    for step in range(1, steps + 1):
        model.train()
        loss = F.binary_cross_entropy_with_logits(model(surface, q), occ)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0:
            model.eval()
            with torch.no_grad():
                pred = model(surface, q) > 0
            inside = occ > 0.5
            best = max(best, float((pred & inside).sum() / (pred | inside).sum()))
            if best > 0.95:
                break
    return best


@pytest.mark.parametrize("name", ["conv_onet_grid_small", "conv_onet_planes_small"])
def test_overfits_a_sphere_fast(name):
    assert _overfit(name, steps=200) > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("name", ["occnet_small", "ifnet_small"])
def test_overfits_a_sphere(name):
    assert _overfit(name, steps=300) > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
def test_full_size_models_run(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(_cloud(1, 300, 14), _cloud(1, 64, 15))
    assert out.shape == (1, 64) and torch.isfinite(out).all()
