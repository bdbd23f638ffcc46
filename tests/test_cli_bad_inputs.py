"""A corpus of malformed and odd inputs, run through the CLI as a new user or a hostile file would.

Every malformed input must give exit code 2, one line on stderr naming the problem (``implicit3d CMD: error: ...``),
no traceback, and nothing at the output path. Every odd-but-valid input must succeed and print its one-line warning.
Cases are built in a temp folder from a few shared fixtures: a tiny trained checkpoint, a tiny prepared dataset.
Commands run in-process (``implicit3d.cli.main``); a few run as subprocesses to check the real stderr.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from PIL import Image

from completion_fixtures import TINY_MODEL
from disk_full import full_disk_fdopen
from implicit3d.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------------------------ shared fixtures


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """2 meshes in 1 category, tiny samples, one 40x30 view each."""
    from implicit3d.data.prepare import PrepareConfig, prepare

    src = tmp_path_factory.mktemp("meshes") / "things"
    src.mkdir()
    trimesh.creation.icosphere(1, 0.1).export(src / "sphere.ply")
    trimesh.creation.box((0.1, 0.2, 0.3)).export(src / "box.ply")
    cfg = PrepareConfig(n_uniform=400, n_near=200, n_surface=400, n_views=1, image_size=(40, 30),
                        focal=(35.0, 35.0), noise="none", split=(0.5, 0.5, 0.0))
    root = tmp_path_factory.mktemp("ds") / "data"
    prepare(str(src.parent), root, config=cfg, seed=0, progress=False)
    return root


@dataclass
class Env:
    """What a case builds its inputs from: a scratch folder, the tiny run, the tiny dataset."""

    tmp: Path
    run: Path
    data: Path
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, content: bytes | str) -> str:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        p.write_bytes(content)
        return str(p)

    def npy(self, name: str, arr: np.ndarray, allow_pickle: bool = False) -> str:
        p = self.tmp / name
        np.save(p, arr, allow_pickle=allow_pickle)
        return str(p)

    def cloud(self, name: str = "cloud.npy", n: int = 300) -> str:
        rng = np.random.default_rng(0)
        pts = rng.normal(size=(n, 3)) * 0.03 + np.array([0.0, 0.0, 0.5])
        return self.npy(name, pts)

    def copy_run(self) -> Path:
        dst = self.tmp / "run"
        shutil.copytree(self.run, dst)
        return dst

    def ckpt_meta(self, edit: Callable[[dict], None]) -> str:
        run = self.copy_run()
        meta_path = run / "checkpoints" / "last" / "checkpoint.json"
        meta = json.loads(meta_path.read_text())
        edit(meta)
        meta_path.write_text(json.dumps(meta))
        return str(run)

    def exported(self, edit: Callable[[dict], None] | None = None) -> str:
        """The tiny model exported as w.safetensors + w.json, the JSON edited."""
        out = self.tmp / "exp" / "w.safetensors"
        assert main(["export", str(self.run), "-o", str(out)]) == 0
        if edit is not None:
            meta_path = out.with_suffix(".json")
            meta = json.loads(meta_path.read_text())
            edit(meta)
            meta_path.write_text(json.dumps(meta))
        return str(out)

    def copy_data(self, edit: Callable[[Path], None] | None = None) -> str:
        dst = self.tmp / "data"
        shutil.copytree(self.data, dst)
        if edit is not None:
            edit(dst)
        return str(dst)

    def train_yaml(self, data: str, **train) -> str:
        cfg = {"model": dict(TINY_MODEL), "data": {"root": data, "input": "partial", "n_inputs": 64, "n_points": 64},
               "train": {"batch_size": 2, "max_steps": 2, "val_every": 0, "ckpt_every": 0, "log_every": 1, **train}}
        return self.file("run.yaml", yaml.safe_dump(cfg))

    def depth(self, name: str, units: np.ndarray) -> str:
        p = self.tmp / name
        Image.fromarray(np.asarray(units, dtype=np.uint16)).save(p)
        return str(p)

    def intrinsics(self, name: str = "K.json", w: int = 40, h: int = 30, **extra) -> str:
        k = {"fx": 40.0, "fy": 40.0, "cx": (w - 1) / 2, "cy": (h - 1) / 2, "width": w, "height": h, **extra}
        return self.file(name, json.dumps(k))


def _object_depth(value: float = 500.0, w: int = 40, h: int = 30) -> np.ndarray:
    """A disc of depth ``value`` (PNG units) in the middle of a ``(h, w)`` image, 0 elsewhere."""
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(w, h) / 3) ** 2
    return np.where(disc, value + (xx - w / 2) * 0.5, 0.0)


def _pcd(points_line: str = "POINTS 4", data: str = "ascii", body: str = "0 0 0.5\n0.1 0 0.5\n0 0.1 0.5\n0 0 0.6\n",
         fields: str = "FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n") -> str:
    return f"VERSION 0.7\n{fields}WIDTH 4\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n{points_line}\nDATA {data}\n{body}"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _first_shape(root: Path) -> Path:
    return sorted(p.parent for p in root.glob("*/*/shape.json"))[0]


def _pickled_npz(path: Path, key: str = "points") -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **{key: np.array([{"a": 1}], dtype=object)})


def _disk_full(env: Env) -> None:
    """Every atomic write fails with ENOSPC (as on a full disk)."""
    import implicit3d.fileio as fileio
    import implicit3d.training.checkpoint as ckpt

    env.monkeypatch.setattr(fileio.os, "fdopen", full_disk_fdopen())

    def full_write(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    env.monkeypatch.setattr(ckpt, "_write_file", full_write)


def _read_only(env: Env) -> None:
    """Creating files fails with EROFS (as on a read-only mount: chmod does not stop root, so it is simulated)."""
    import implicit3d.fileio as fileio
    import implicit3d.training.checkpoint as ckpt

    def refuse(*a, dir=None, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(Path(dir or ".") / ".tmpfile"))

    env.monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)

    def refuse_write(path, data):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    env.monkeypatch.setattr(ckpt, "_write_file", refuse_write)
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        if str(self).startswith(str(env.tmp / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *a, **k)

    env.monkeypatch.setattr(Path, "mkdir", mkdir)


# ------------------------------------------------------------------------------------------------ the corpus


@dataclass
class Case:
    id: str
    build: Callable[[Env], list[str]]  #: the argv, built in env.tmp
    match: str  #: regex the error (or warning) line must match
    warn: bool = False  #: odd but valid: exit 0 and this warning
    output: str | None = "out.ply"  #: path (relative to env.tmp) that must not exist after an error
    setup: Callable[[Env], None] | None = None  #: e.g. simulate a full disk


CASES: list[Case] = []


def case(id: str, match: str, **kw) -> Callable[[Callable[[Env], list[str]]], Callable[[Env], list[str]]]:
    def deco(fn: Callable[[Env], list[str]]) -> Callable[[Env], list[str]]:
        CASES.append(Case(id, fn, match, **kw))
        return fn

    return deco


def complete(env: Env, inp: str, *extra: str) -> list[str]:
    return ["complete", inp, "-o", str(env.tmp / "out.ply"), "--checkpoint", str(env.run), "--turns", "1",
            "--resolution", "16", "--quiet", *extra]


def cloud_case(id: str, name: str, content: bytes | str | Callable[[Env], str], match: str, *extra: str,
               warn: bool = False) -> None:
    def build(env: Env) -> list[str]:
        path = content(env) if callable(content) else env.file(name, content)
        return complete(env, path, *extra)

    CASES.append(Case(id, build, match, warn=warn))


# --- PCD headers and data
cloud_case("pcd-points-negative", "a.pcd", _pcd("POINTS -5"), r"a\.pcd.*POINTS")
cloud_case("pcd-points-negative-binary", "a.pcd", _pcd("POINTS -5", "binary", ""), r"a\.pcd.*POINTS")
cloud_case("pcd-points-huge-binary", "a.pcd", _pcd("POINTS 1000000000000", "binary", ""), r"a\.pcd")
cloud_case("pcd-points-not-a-number", "a.pcd", _pcd("POINTS many"), r"a\.pcd.*header")
cloud_case("pcd-points-400-digits", "a.pcd", _pcd("POINTS " + "9" * 400, "binary", ""), r"a\.pcd")
cloud_case("pcd-width-negative", "a.pcd", _pcd("POINTS 4").replace("WIDTH 4", "WIDTH -4"), r"a\.pcd.*WIDTH")
cloud_case("pcd-no-data-line", "a.pcd", "VERSION 0.7\nFIELDS x y z\nPOINTS 1\n", r"a\.pcd.*DATA")
cloud_case("pcd-no-z-field", "a.pcd", _pcd(fields="FIELDS x y w\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"),
           r"a\.pcd.*no z field")
cloud_case("pcd-compressed", "a.pcd", _pcd(data="binary_compressed", body=""), r"a\.pcd.*binary_compressed")
cloud_case("pcd-unknown-mode", "a.pcd", _pcd(data="zip", body=""), r"a\.pcd.*DATA mode")
cloud_case("pcd-sizes-differ", "a.pcd", _pcd(fields="FIELDS x y z\nSIZE 4 4\nTYPE F F F\nCOUNT 1 1 1\n"),
           r"a\.pcd.*lengths differ")
cloud_case("pcd-size-3", "a.pcd", _pcd(data="binary", body="",
                                       fields="FIELDS x y z\nSIZE 3 3 3\nTYPE F F F\nCOUNT 1 1 1\n"),
           r"a\.pcd.*unsupported")
cloud_case("pcd-count-negative", "a.pcd", _pcd(fields="FIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 -1 1\n"),
           r"a\.pcd.*COUNT")
cloud_case("pcd-binary-truncated", "a.pcd", _pcd(data="binary", body="\x00" * 20), r"a\.pcd.*truncated")
cloud_case("pcd-ascii-short-rows", "a.pcd", _pcd(body="1 2\n3 4\n"), r"a\.pcd")
cloud_case("pcd-ascii-garbage", "a.pcd", _pcd(body="x y z\n"), r"a\.pcd.*ASCII")
cloud_case("pcd-empty", "a.pcd", _pcd("POINTS 0", body=""), r"a\.pcd.*empty")
cloud_case("pcd-header-binary-junk", "a.pcd", b"\xff\xfe" * 50 + b"\n" * 70, r"a\.pcd")
cloud_case("pcd-huge-coordinates", "a.pcd", _pcd(body="1e308 0 0\n-1e308 0 0\n0 1e308 0\n0 0 1e308\n"),
           r"a\.pcd.*too large")
cloud_case("pcd-nan", "a.pcd", _pcd(body="nan 0 0\n0 0 1\n0 1 0\n1 0 0\n"), r"a\.pcd.*NaN")
# --- text clouds
cloud_case("xyz-empty", "a.xyz", "", r"a\.xyz.*empty")
cloud_case("xyz-comments-only", "a.xyz", "# nothing\n# here\n", r"a\.xyz.*empty")
cloud_case("xyz-two-columns", "a.xyz", "1 2\n3 4\n5 6\n7 8\n", r"a\.xyz.*\(N, 3\)")
cloud_case("xyz-words", "a.xyz", "hello world again\n", r"a\.xyz.*text point list")
cloud_case("xyz-binary-junk", "a.xyz", bytes(range(256)) * 4, r"a\.xyz")
cloud_case("xyz-ragged", "a.xyz", "1 2 3\n4 5\n6 7 8\n", r"a\.xyz")
cloud_case("xyz-three-points", "a.xyz", "0 0 1\n0 1 1\n1 0 1\n", r"a\.xyz.*3 points.*at least 4")
cloud_case("xyz-one-point", "a.xyz", "0 0 1\n", r"a\.xyz.*1 point")
cloud_case("xyz-nan", "a.xyz", "nan 0 1\n0 1 1\n1 0 1\n1 1 1\n", r"a\.xyz.*NaN.*--drop-invalid")
cloud_case("xyz-all-nan-dropped", "a.xyz", "nan 0 1\ninf 1 1\n", r"a\.xyz.*empty after", "--drop-invalid")
cloud_case("xyz-huge", "a.xyz", "1e308 0 0\n-1e308 0 0\n0 1e308 0\n0 0 -1e308\n", r"a\.xyz.*too large")
cloud_case("xyz-overflow-inf", "a.xyz", "1e400 0 0\n0 0 0\n0 1 0\n1 0 0\n", r"a\.xyz.*NaN or inf")
cloud_case("xyz-identical-points", "a.xyz", "0 0 1\n" * 10, r"a\.xyz|input cloud")
cloud_case("txt-400-digit-number", "a.txt", "9" * 400 + " 0 0\n0 0 1\n0 1 0\n1 0 0\n", r"a\.txt")
# --- NumPy clouds
cloud_case("npy-complex", "a.npy", lambda e: e.npy("a.npy", np.ones((10, 3)) * (1 + 1j)), r"a\.npy.*complex")
cloud_case("npy-object-pickle", "a.npy", lambda e: e.npy("a.npy", np.array([{}, 1, "x"], dtype=object), True),
           r"a\.npy.*(pickle|readable)")
cloud_case("npy-1d", "a.npy", lambda e: e.npy("a.npy", np.arange(12.0)), r"a\.npy.*\(N, 3\)")
cloud_case("npy-0d", "a.npy", lambda e: e.npy("a.npy", np.array(3.0)), r"a\.npy.*\(N, 3\)")
cloud_case("npy-4d", "a.npy", lambda e: e.npy("a.npy", np.zeros((2, 2, 2, 3))), r"a\.npy.*shape")
cloud_case("npy-two-columns", "a.npy", lambda e: e.npy("a.npy", np.zeros((10, 2))), r"a\.npy.*\(N, 3\)")
cloud_case("npy-strings", "a.npy", lambda e: e.npy("a.npy", np.array([["a", "b", "c"]] * 5)), r"a\.npy.*numbers")
cloud_case("npy-bool", "a.npy", lambda e: e.npy("a.npy", np.ones((5, 3), bool)), r"a\.npy.*numbers")
cloud_case("npy-truncated", "a.npy", lambda e: e.file("a.npy", np.lib.format.magic(1, 0) + b"{'descr'"),
           r"a\.npy.*readable")
cloud_case("npy-empty-file", "a.npy", "", r"a\.npy.*readable")
cloud_case("npy-huge", "a.npy", lambda e: e.npy("a.npy", np.full((6, 3), 1e300) * np.arange(6)[:, None]),
           r"a\.npy.*too large")
cloud_case("npy-empty-array", "a.npy", lambda e: e.npy("a.npy", np.zeros((0, 3))), r"a\.npy.*empty")
cloud_case("npy-organized-all-invalid", "a.npy", lambda e: e.npy("a.npy", np.zeros((4, 5, 3))), r"a\.npy.*empty")
cloud_case("npz-no-points", "a.npz", lambda e: (np.savez(e.tmp / "a.npz", xyz=np.zeros((5, 3))),
                                                str(e.tmp / "a.npz"))[1], r"a\.npz.*no 'points'")
cloud_case("npz-truncated", "a.npz", lambda e: (np.savez(e.tmp / "a.npz", points=np.ones((50, 3))),
                                                _truncate(e.tmp / "a.npz"), str(e.tmp / "a.npz"))[2],
           r"a\.npz.*readable")
cloud_case("npz-pickled", "a.npz", lambda e: (_pickled_npz(e.tmp / "a.npz"), str(e.tmp / "a.npz"))[1],
           r"a\.npz.*(pickle|readable)")
cloud_case("npz-not-zip", "a.npz", "PK\x03\x04 not really", r"a\.npz.*readable")
# --- PLY and others
cloud_case("ply-garbage", "a.ply", "ply\nformat ascii 1.0\nelement vertex 99\nend_header\n1 2\n", r"a\.ply")
cloud_case("ply-empty-file", "a.ply", "", r"a\.ply")
cloud_case("ply-random-bytes", "a.ply", bytes(range(256)) * 8, r"a\.ply")
cloud_case("unknown-extension", "a.las", "xyz", r"a\.las.*unknown point cloud extension")
cloud_case("no-extension", "cloud", "0 0 0\n", r"cloud.*unknown")
cloud_case("missing-file", "x", lambda e: str(e.tmp / "missing.ply"), r"not found: .*missing\.ply")
cloud_case("input-is-folder", "x", lambda e: (os.mkdir(e.tmp / "dir.ply"), str(e.tmp / "dir.ply"))[1],
           r"not a file: .*dir\.ply")
# --- depth images, intrinsics, masks
cloud_case("png-no-intrinsics", "d.png", lambda e: e.depth("d.png", _object_depth()), r"d\.png.*--intrinsics")


def depth_case(id: str, match: str, depth: Callable[[Env], str] | None = None,
               intr: Callable[[Env], str] | None = None, mask: Callable[[Env], str] | None = None,
               extra: tuple[str, ...] = (), warn: bool = False) -> None:
    def build(env: Env) -> list[str]:
        d = depth(env) if depth else env.depth("d.png", _object_depth())
        k = intr(env) if intr else env.intrinsics()
        argv = complete(env, d, "--intrinsics", k, *extra)
        if mask is not None:
            argv += ["--mask", mask(env)]
        return argv

    CASES.append(Case(id, build, match, warn=warn))


depth_case("png-8bit", r"d\.png.*16-bit", depth=lambda e: (
    Image.fromarray(np.full((30, 40), 9, np.uint8)).save(e.tmp / "d.png"), str(e.tmp / "d.png"))[1])
depth_case("png-rgb", r"d\.png.*16-bit", depth=lambda e: (
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(e.tmp / "d.png"), str(e.tmp / "d.png"))[1])
depth_case("png-garbage", r"d\.png.*not a readable image", depth=lambda e: e.file("d.png", b"\x89PNG\r\n\x1a\n junk"))
depth_case("tiff-16bit-rgb", r"d\.tif", depth=lambda e: (
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(e.tmp / "d.tif"), str(e.tmp / "d.tif"))[1])
depth_case("intr-missing", r"not found: .*nope\.json", intr=lambda e: str(e.tmp / "nope.json"))
depth_case("intr-not-json", r"K\.json.*JSON", intr=lambda e: e.file("K.json", "{fx: 1"))
depth_case("intr-400-digit-int", r"K\.json", intr=lambda e: e.file("K.json", json.dumps(
    {"fx": 40, "fy": 40, "cx": 20, "cy": 15, "width": 40, "height": 30}).replace("40,", "9" * 400 + ",", 1)))
depth_case("intr-nested-deep", r"K\.json.*nested", intr=lambda e: e.file("K.json", _nested(100_000)))
depth_case("intr-nested-in-key", r"K\.json", intr=lambda e: e.file(
    "K.json", '{"fx": ' + _nested(5000) + ', "fy": 1, "cx": 1, "cy": 1, "width": 40, "height": 30}'))
depth_case("intr-list", r"K\.json", intr=lambda e: e.file("K.json", "[1, 2, 3]"))
depth_case("intr-missing-key", r"K\.json.*fx", intr=lambda e: e.file("K.json", '{"fy": 1, "cx": 1, "cy": 1}'))
depth_case("intr-negative-focal", r"K\.json", intr=lambda e: e.intrinsics(fx=-3.0))
depth_case("intr-nan-focal", r"K\.json", intr=lambda e: e.file(
    "K.json", '{"fx": NaN, "fy": 40, "cx": 20, "cy": 15, "width": 40, "height": 30}'))
depth_case("intr-string-width", r"K\.json", intr=lambda e: e.intrinsics(width="wide"))
depth_case("intr-huge-width", r"K\.json|d\.png", intr=lambda e: e.intrinsics(w=10**12))
depth_case("intr-size-mismatch", r"d\.png.*40x30.*K\.json", intr=lambda e: e.intrinsics(w=64, h=48))
depth_case("intr-K-not-3x3", r"K\.json.*3x3", intr=lambda e: e.file("K.json", '{"K": [1, 2], "width": 4}'))
depth_case("intr-empty-file", r"K\.json.*JSON", intr=lambda e: e.file("K.json", ""))
depth_case("depth-all-zero", r"d\.png.*no valid pixels", depth=lambda e: e.depth("d.png", np.zeros((30, 40))))
depth_case("depth-all-nodata", r"d\.png.*no valid pixels",
           depth=lambda e: e.depth("d.png", np.full((30, 40), 65535)))
depth_case("depth-npy-all-nan", r"d\.npy.*no valid pixels",
           depth=lambda e: e.npy("d.npy", np.full((30, 40), np.nan)))
depth_case("depth-npy-complex", r"d\.npy.*complex", depth=lambda e: e.npy("d.npy", np.ones((30, 40)) * 1j))
depth_case("depth-npy-3d", r"d\.npy.*\(H, W\)", depth=lambda e: e.npy("d.npy", np.ones((30, 40, 2))))
depth_case("depth-bad-extension", r"d\.jpg.*extension|d\.jpg", depth=lambda e: e.file("d.jpg", "xx"))
depth_case("depth-scale-zero", r"--depth-scale", extra=("--depth-scale", "0"))
depth_case("mask-1d", r"m\.npy.*mask", mask=lambda e: e.npy("m.npy", np.ones(12)))
depth_case("mask-0d", r"m\.npy.*mask", mask=lambda e: e.npy("m.npy", np.array(1)))
depth_case("mask-wrong-size", r"m\.npy.*pixels", mask=lambda e: e.npy("m.npy", np.ones((10, 10))))
depth_case("mask-empty-selection", r"m\.npy.*selects no pixel", mask=lambda e: e.npy("m.npy", np.zeros((30, 40))))
depth_case("mask-garbage-png", r"m\.png.*mask", mask=lambda e: e.file("m.png", "not a png"))
depth_case("mask-missing", r"not found: .*m\.png", mask=lambda e: str(e.tmp / "m.png"))
depth_case("mask-complex", r"m\.npy", mask=lambda e: e.npy("m.npy", np.ones((30, 40)) * 1j))
cloud_case("mask-on-cloud", "a.xyz", "0 0 1\n0 1 1\n1 0 1\n1 1 1\n",
           r"--mask applies to depth images and organized clouds", "--mask", "m.png")
cloud_case("intrinsics-on-cloud", "a.xyz", "0 0 1\n0 1 1\n1 0 1\n1 1 1\n", r"--intrinsics is for depth",
           "--intrinsics", "K.json")
# odd but valid depth
depth_case("depth-metres-in-png", r"d\.png.*median depth", warn=True,
           depth=lambda e: e.depth("d.png", (_object_depth(1.0) > 0) * 1))
depth_case("depth-far", r"d\.npy.*median depth", warn=True,
           depth=lambda e: e.npy("d.npy", _object_depth(500.0)))
depth_case("depth-nodata-65535", r"d\.png.*65535", warn=True,
           depth=lambda e: e.depth("d.png", np.where(_object_depth() > 0, _object_depth(), 65535)))


# --- options
def option_case(id: str, match: str, *extra: str) -> None:
    CASES.append(Case(id, lambda e: complete(e, e.cloud(), *extra), match))


option_case("resolution-100000", r"--resolution.*at most", "--resolution", "100000")
option_case("resolution-1", r"--resolution", "--resolution", "1")
option_case("resolution-4", r"--resolution must be >= 8", "--resolution", "4")  # all corners: no surface
option_case("seed-negative", r"--seed.*>= 0", "--seed", "-1")
option_case("seed-huge", r"--seed", "--seed", "9" * 40)
option_case("threshold-2", r"--threshold", "--threshold", "2")
option_case("threshold-nan", r"--threshold", "--threshold", "nan")
option_case("n-inputs-0", r"--n-inputs", "--n-inputs", "0")
option_case("n-inputs-huge", r"--n-inputs.*at most", "--n-inputs", "1000000000")
option_case("turns-0", r"turns", "--turns", "0")
option_case("turns-huge", r"--turns.*at most", "--turns", "100000")
option_case("viewpoint-bad", r"--viewpoint", "--viewpoint", "1,2")
option_case("viewpoint-nan", r"--viewpoint", "--viewpoint", "nan,0,0")
option_case("up-bad", r"--up", "--up", "sideways")
option_case("up-zero", r"--up", "--up", "0,0,0")
option_case("html-not-html", r"--html", "--html", "fig.png")
CASES.append(Case("output-unknown-ext", lambda e: complete(e, e.cloud()) + ["-o", str(e.tmp / "out.xyz")],
                  r"out\.xyz.*unknown mesh extension"))
CASES.append(Case("output-is-folder", lambda e: (os.mkdir(e.tmp / "out.ply"), complete(e, e.cloud()))[1],
                  r"out\.ply.*folder", output=None))
CASES.append(Case("output-under-a-file", lambda e: complete(e, e.cloud())[:3] + [
    e.file("f", "x") + "/out.ply"] + complete(e, e.cloud())[4:], r"f.*not a folder|f/out\.ply"))
CASES.append(Case("html-under-a-file", lambda e: complete(e, e.cloud(), "--html", e.file("g", "x") + "/v.html"),
                  r"g.*not a folder|g/v\.html", output=None))
CASES.append(Case("html-is-folder", lambda e: (os.mkdir(e.tmp / "v.html"),
                                               complete(e, e.cloud(), "--html", str(e.tmp / "v.html")))[1],
                  r"v\.html.*folder", output=None))
CASES.append(Case("complete-read-only", lambda e: complete(e, e.cloud()), r"out\.ply|tmpfile.*read-only",
                  setup=_read_only))
CASES.append(Case("complete-disk-full", lambda e: complete(e, e.cloud()), r"out\.ply.*no space left",
                  setup=_disk_full))
# odd but valid clouds
CASES.append(Case("world-frame-cloud", lambda e: complete(e, e.npy("w.npy", np.random.default_rng(0).normal(
    size=(300, 3)) * 0.05 + np.array([0.02, -0.01, 0.03]))), r"w\.npy.*--viewpoint", warn=True))
CASES.append(Case("pcd-viewpoint-malformed", lambda e: complete(e, e.file("v.pcd", _pcd().replace(
    "VIEWPOINT 0 0 0 1 0 0 0", "VIEWPOINT 0 0 x"))), r"v\.pcd.*VIEWPOINT"))
depth_case("depth-float-tiff", r"d\.tif.*median depth", warn=True, depth=lambda e: (
    Image.fromarray((_object_depth(500.0) / 1000.0 * 40).astype(np.float32)).save(e.tmp / "d.tif"),
    str(e.tmp / "d.tif"))[1])
CASES.append(Case("organized-cloud", lambda e: complete(e, e.npy("o.npy", np.concatenate([
    np.random.default_rng(0).normal(size=(10, 20, 3)) * 0.03 + np.array([0, 0, 0.5]), np.zeros((10, 20, 3))]))),
    r"o\.npy.*organized.*200 invalid", warn=True))


# --- checkpoints and exported models
def ckpt_case(id: str, match: str, edit: Callable[[dict], None], commands: tuple[str, ...] = ("complete", "export",
                                                                                               "train")) -> None:
    for cmd in commands:
        def build(env: Env, cmd: str = cmd) -> list[str]:
            run = env.ckpt_meta(edit)
            if cmd == "complete":
                return complete(env, env.cloud())[:-7] + ["--checkpoint", run, "--turns", "1", "--resolution", "16"]
            if cmd == "export":
                return ["export", run, "-o", str(env.tmp / "out.safetensors")]
            return ["train", env.train_yaml(env.copy_data()), "--out", run, "--resume", "--no-progress",
                    "--device", "cpu", "--max-steps", "3"]

        CASES.append(Case(f"{id}-{cmd}", build, match, output="out.safetensors" if cmd == "export" else "out.ply"))


def _set(path: str, value) -> Callable[[dict], None]:
    """Set ``meta[a][b]... = value`` for ``path`` ``"a/b/..."``."""
    def edit(meta: dict) -> None:
        *head, last = path.split("/")
        d = meta
        for k in head:
            d = d[k]
        d[last] = value

    return edit


ckpt_case("ckpt-files-int", r"checkpoint\.json.*files", _set("files/model.safetensors", 5))
ckpt_case("ckpt-files-list", r"checkpoint\.json.*files", _set("files", [1, 2]))
ckpt_case("ckpt-size-string", r"checkpoint\.json|model\.safetensors", _set("files/model.safetensors", {"size": "x"}))
ckpt_case("ckpt-format-version-text", r"checkpoint\.json.*format_version", _set("format_version", "abc"))
ckpt_case("ckpt-model-config-list", r"checkpoint\.json.*model_config", _set("model_config", [1, 2]))
ckpt_case("ckpt-grid-resolution-huge", r"checkpoint\.json.*grid_resolution.*at most",
          _set("model_config/grid_resolution", 100000), ("complete", "export"))
ckpt_case("ckpt-data-config-list", r"checkpoint\.json.*data_config", _set("data_config", [1, 2]),
          ("complete", "export"))
ckpt_case("ckpt-rng-python-int", r"checkpoint\.json.*rng", _set("rng", {"python": 1}), ("train",))
ckpt_case("ckpt-n-inputs-text", r"checkpoint\.json.*n_inputs", _set("data_config/n_inputs", "many"),
          ("complete",))
ckpt_case("ckpt-no-format", r"checkpoint\.json.*not an implicit3d checkpoint", lambda m: m.pop("format"))
ckpt_case("ckpt-step-text", r"checkpoint\.json.*step", _set("step", "ten"), ("train",))


def ckpt_file_case(id: str, match: str, edit: Callable[[Path], None]) -> None:
    def build(env: Env) -> list[str]:
        run = env.copy_run()
        edit(run / "checkpoints" / "last")
        return complete(env, env.cloud())[:-7] + ["--checkpoint", str(run), "--turns", "1", "--resolution", "16"]

    CASES.append(Case(id, build, match))


ckpt_file_case("ckpt-weights-truncated", r"model\.safetensors.*truncated", lambda d: _truncate(d / "model.safetensors"))
ckpt_file_case("ckpt-weights-missing", r"model\.safetensors.*missing", lambda d: (d / "model.safetensors").unlink())
ckpt_file_case("ckpt-json-garbage", r"checkpoint\.json.*JSON", lambda d: (d / "checkpoint.json").write_text("{"))
ckpt_file_case("ckpt-json-deep", r"checkpoint\.json.*nested",
               lambda d: (d / "checkpoint.json").write_text(_nested(100_000)))
ckpt_file_case("ckpt-json-400-digits", r"checkpoint\.json",
               lambda d: (d / "checkpoint.json").write_text('{"format_version": ' + "9" * 400 + "}"))
ckpt_file_case("ckpt-json-is-folder", r"checkpoint\.json|last",
               lambda d: ((d / "checkpoint.json").unlink(), (d / "checkpoint.json").mkdir()))
CASES.append(Case("ckpt-pickle-pt", lambda e: complete(e, e.cloud())[:-7] + [
    "--checkpoint", e.file("model.pt", b"\x80\x04K\x01."), "--turns", "1"], r"model\.pt.*pickle"))


def sidecar_case(id: str, match: str, edit: Callable[[dict], None], cmd: str = "complete") -> None:
    def build(env: Env) -> list[str]:
        weights = env.exported(edit)
        if cmd == "export":
            return ["export", weights, "-o", str(env.tmp / "out.safetensors")]
        return complete(env, env.cloud())[:-7] + ["--checkpoint", weights, "--turns", "1", "--resolution", "16"]

    CASES.append(Case(id, build, match, output="out.safetensors" if cmd == "export" else "out.ply"))


sidecar_case("sidecar-data-config-list", r"w\.json.*data_config", _set("data_config", [1, 2]))
sidecar_case("sidecar-data-config-list-export", r"w\.json.*data_config", _set("data_config", [1, 2]), "export")
sidecar_case("sidecar-grid-resolution-huge", r"w\.json.*grid_resolution.*at most",
             _set("model_config/grid_resolution", 100000))
sidecar_case("sidecar-grid-resolution-negative", r"w\.json.*grid_resolution", _set("model_config/grid_resolution", -2))
sidecar_case("sidecar-grid-resolution-float", r"w\.json.*grid_resolution", _set("model_config/grid_resolution", 8.5))
sidecar_case("sidecar-model-config-missing", r"w\.json.*model_config", lambda m: m.pop("model_config"))
sidecar_case("sidecar-model-name-unknown", r"w\.json.*(name|model)", _set("model_config/name", "teapot"))
sidecar_case("sidecar-n-inputs-negative", r"w\.json.*n_inputs", _set("data_config/n_inputs", -5))
sidecar_case("sidecar-n-inputs-huge", r"w\.json.*n_inputs", _set("data_config/n_inputs", 10**12))
sidecar_case("sidecar-normalization-text", r"w\.json.*normalization", _set("normalization", "big"))
sidecar_case("sidecar-padding-1", r"w\.json.*padding", _set("normalization", {"padding": 1.5}))
sidecar_case("sidecar-not-object", r"w\.json", lambda m: m.clear())
CASES.append(Case("sidecar-weights-garbage", lambda e: complete(e, e.cloud())[:-7] + [
    "--checkpoint", (e.file("g.json", json.dumps({"model_config": TINY_MODEL})), e.file("g.safetensors", "junk"))[1]],
    r"g\.safetensors.*safetensors"))


# --- datasets: train, evaluate, visualize, generate
def data_case(id: str, match: str, edit: Callable[[Path], None], commands=("train", "evaluate", "visualize")) -> None:
    for cmd in commands:
        def build(env: Env, cmd: str = cmd) -> list[str]:
            data = env.copy_data(edit)
            if cmd == "train":
                return ["train", env.train_yaml(data), "--out", str(env.tmp / "out"), "--no-progress", "--device",
                        "cpu"]
            if cmd == "evaluate":
                return ["evaluate", "--checkpoint", str(env.run), "--data", data, "--split", "train", "-o",
                        str(env.tmp / "out"), "--resolution", "8", "--no-progress", "--n-points", "100",
                        "--baselines", "none"]
            if cmd == "generate":
                return ["generate", "--checkpoint", str(env.run), "--data", data, "--split", "train", "-o",
                        str(env.tmp / "out"), "--resolution", "8", "--no-progress"]
            figure = "inside-outside" if id.startswith("points-") else "points"  # the figure that reads the file
            return ["visualize", data, "--figure", figure, "-o", str(env.tmp / "out.html")]

        CASES.append(Case(f"{id}-{cmd}", build, match, output="out.html" if cmd == "visualize" else "out"))


def _shape_file(name: str, fn: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: [fn(p / name) for p in sorted(q.parent for q in root.glob("*/*/shape.json"))]


data_case("points-truncated", r"points\.npz.*(truncated|readable)", _shape_file("points.npz", _truncate))
data_case("pointcloud-truncated", r"pointcloud\.npz.*(truncated|readable)", _shape_file("pointcloud.npz", _truncate),
          ("visualize", "evaluate"))
data_case("pointcloud-pickled", r"pointcloud\.npz.*pickle", _shape_file("pointcloud.npz", _pickled_npz),
          ("visualize", "evaluate"))
data_case("points-pickled", r"points\.npz.*pickle", _shape_file("points.npz", _pickled_npz), ("train",))
data_case("views-missing", r"views\.npz", _shape_file("views.npz", lambda p: p.unlink()), ("train", "evaluate"))
data_case("views-not-zip", r"views\.npz.*readable", _shape_file("views.npz", lambda p: p.write_text("x")),
          ("train",))
data_case("manifest-garbage", r"manifest\.json", lambda r: (r / "manifest.json").write_text("{"),
          ("train", "evaluate", "visualize"))
data_case("manifest-deep", r"manifest\.json.*nested", lambda r: (r / "manifest.json").write_text(_nested(100_000)),
          ("train", "evaluate"))
data_case("split-missing", r"train\.lst", lambda r: (r / "train.lst").unlink(), ("train", "evaluate"))
data_case("split-names-missing-shape", r"ghost", lambda r: (r / "train.lst").write_text("things/ghost\n"),
          ("train", "evaluate"))
data_case("empty-folder", r"data", lambda r: [shutil.rmtree(c) if c.is_dir() else c.unlink() for c in r.iterdir()],
          ("train", "evaluate", "visualize"))


# --- prepare
def _meshes(env: Env, **files: bytes | str | trimesh.Trimesh) -> str:
    src = env.tmp / "src" / "cat"
    src.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if isinstance(content, trimesh.Trimesh):
            content.export(src / name)
        else:
            (src / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return str(src.parent)


def prepare(env: Env, source: str, *extra: str) -> list[str]:
    return ["prepare", "--source", source, "-o", str(env.tmp / "out"), "--uniform", "300", "--near", "150",
            "--surface", "300", "--views", "1", "--image-size", "32x24", "--focal", "30,30", "--noise", "none",
            "--quiet", *extra]


TRIANGLE = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], process=False)
QUAD = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]], process=False)
GOOD = trimesh.creation.box((0.1, 0.2, 0.3))

CASES += [
    Case("prepare-all-broken", lambda e: prepare(e, _meshes(e, **{"a.obj": "garbage", "b.ply": "ply\nnope"})),
         r"src.*no usable mesh|all .*broken", output="out/manifest.json"),
    Case("prepare-single-triangle", lambda e: prepare(e, _meshes(e, **{"t.ply": TRIANGLE})),
         r"t\.ply.*(volume|flat)", output="out/manifest.json"),
    Case("prepare-flat-quad", lambda e: prepare(e, _meshes(e, **{"q.obj": QUAD})), r"q\.obj.*(volume|flat)",
         output="out/manifest.json"),
    Case("prepare-flat-and-good", lambda e: prepare(e, _meshes(e, **{"q.obj": QUAD, "g.ply": GOOD})),
         r"q\.obj.*(volume|flat)", warn=True),
    Case("prepare-empty-source", lambda e: prepare(e, (os.makedirs(e.tmp / "empty"), str(e.tmp / "empty"))[1]),
         r"no mesh files .*empty", output="out/manifest.json"),
    Case("prepare-source-missing", lambda e: prepare(e, str(e.tmp / "nowhere")), r"nowhere",
         output="out/manifest.json"),
    Case("prepare-output-is-file", lambda e: prepare(e, _meshes(e, **{"g.ply": GOOD}))[:4] + [
        e.file("out", "x")] + prepare(e, "x")[5:], r"out.*not a folder", output=None),
    Case("prepare-output-under-file", lambda e: prepare(e, _meshes(e, **{"g.ply": GOOD}))[:4] + [
        e.file("f", "x") + "/ds"] + prepare(e, "x")[5:], r"f.*not a folder|f/ds", output=None),
    Case("prepare-read-only", lambda e: prepare(e, _meshes(e, **{"g.ply": GOOD}))[:4] + [
        str(e.tmp / "ro" / "ds")] + prepare(e, "x")[5:], r"ro.*read-only", setup=_read_only, output="ro"),
    Case("prepare-disk-full", lambda e: prepare(e, _meshes(e, **{"g.ply": GOOD})), r"no space left",
         setup=_disk_full, output="out/manifest.json"),
    Case("prepare-locked", lambda e: prepare(e, _meshes(e, **{"g.ply": GOOD})), r"out.*another .*prepare",
         setup=lambda e: e.file("out/.prepare.lock", json.dumps({"pid": os.getppid(), "host": os.uname().nodename})),
         output="out/manifest.json"),
    Case("prepare-count-zero", lambda e: prepare(e, "catalogue:bottle", "--count", "0"), r"--count",
         output="out/manifest.json"),
    Case("prepare-uniform-negative", lambda e: prepare(e, "catalogue:bottle", "--count", "1", "--uniform", "-5"),
         r"uniform|n_uniform", output="out/manifest.json"),
    Case("prepare-image-huge", lambda e: prepare(e, "catalogue:bottle", "--count", "1", "--image-size",
                                                 "100000x100000"), r"image.size.*at most", output="out/manifest.json"),
    Case("prepare-seed-negative", lambda e: prepare(e, "catalogue:bottle", "--count", "1", "--seed", "-1"),
         r"--seed", output="out/manifest.json"),
]


# --- train, export, visualize outputs
def train(env: Env, *extra: str, out: str | Path | None = None) -> list[str]:
    return ["train", env.train_yaml(env.copy_data()), "--out", str(out or env.tmp / "out"), "--no-progress",
            "--device", "cpu", *extra]


CASES += [
    Case("train-read-only", lambda e: train(e, out=e.tmp / "ro" / "run"), r"ro.*read-only", setup=_read_only,
         output="ro"),
    Case("train-disk-full", lambda e: train(e), r"no space left", setup=_disk_full,
         output="out/checkpoints/last/checkpoint.json"),
    Case("train-out-is-file", lambda e: train(e, out=e.file("f", "x")), r"f.*(not a folder|folder was expected)",
         output=None),
    Case("train-config-missing", lambda e: ["train", str(e.tmp / "none.yaml")], r"none\.yaml", output=None),
    Case("train-config-garbage", lambda e: ["train", e.file("c.yaml", "model: [\n")], r"c\.yaml", output=None),
    Case("train-config-deep", lambda e: ["train", e.file("c.yaml", _nested(100_000))], r"c\.yaml", output=None),
    Case("train-config-list", lambda e: ["train", e.file("c.yaml", "- 1\n- 2\n")], r"c\.yaml", output=None),
    Case("train-grid-resolution-huge", lambda e: train(e, "--set", "model.grid_resolution=100000"),
         r"grid_resolution.*at most", output="out/checkpoints"),
    Case("export-read-only", lambda e: ["export", str(e.run), "-o", str(e.tmp / "out.safetensors")],
         r"read-only", setup=_read_only, output="out.safetensors"),
    Case("export-disk-full", lambda e: ["export", str(e.run), "-o", str(e.tmp / "out.safetensors")],
         r"out\.safetensors.*no space left", setup=_disk_full, output="out.safetensors"),
    Case("export-under-a-file", lambda e: ["export", str(e.run), "-o", e.file("f", "x") + "/w.safetensors"],
         r"f.*not a folder|f/w", output=None),
    Case("export-output-is-folder", lambda e: ["export", str(e.run), "-o", str(
        (e.tmp / "out.safetensors").mkdir() or e.tmp / "out.safetensors")], r"out\.safetensors.*folder", output=None),
    Case("visualize-read-only", lambda e: ["visualize", str(e.data), "-o", str(e.tmp / "out.html")], r"read-only",
         setup=_read_only, output="out.html"),
    Case("visualize-disk-full", lambda e: ["visualize", str(e.data), "-o", str(e.tmp / "out.html")],
         r"out\.html.*no space left", setup=_disk_full, output="out.html"),
    Case("visualize-output-is-folder", lambda e: ["visualize", str(e.data), "-o", str(
        (e.tmp / "out.html").mkdir() or e.tmp / "out.html")], r"out\.html.*folder", output=None),
    Case("visualize-resolution-huge", lambda e: ["visualize", str(e.data), "--figure", "sdf-slice", "--resolution",
                                                 "100000", "-o", str(e.tmp / "out.html")], r"--resolution.*at most",
         output="out.html"),
    Case("visualize-mesh-garbage", lambda e: ["visualize", e.file("m.obj", "v 1 2\nf 1 2 9\n"), "-o",
                                              str(e.tmp / "out.html")], r"m\.obj", output="out.html"),
    Case("visualize-completion-bad-input", lambda e: ["visualize", "--input", e.file("a.xyz", ""), "--mesh",
                                                      e.file("m.ply", ""), "-o", str(e.tmp / "out.html")],
         r"a\.xyz|m\.ply", output="out.html"),
    Case("evaluate-resolution-huge", lambda e: ["evaluate", "--checkpoint", str(e.run), "--data", str(e.data),
                                                "--resolution", "100000", "-o", str(e.tmp / "out")],
         r"--resolution.*at most", output="out"),
    Case("generate-resolution-huge", lambda e: ["generate", "--checkpoint", str(e.run), "--data", str(e.data),
                                                "--resolution", "100000", "-o", str(e.tmp / "out")],
         r"--resolution.*at most", output="out"),
]


def test_corpus_is_large():
    assert len(CASES) >= 120, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


_TRACE = re.compile(r"Traceback|^\s+File \"", re.M)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c: Case, tmp_path, run_dir, dataset, monkeypatch, capsys) -> None:
    env = Env(tmp_path, run_dir, dataset, monkeypatch)
    argv = c.build(env)
    capsys.readouterr()
    if c.setup is not None:
        c.setup(env)
    rc = main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert not _TRACE.search(err), err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    command = argv[0]
    errors = [ln for ln in lines if ln.startswith(f"implicit3d {command}: error: ")]
    warns = [ln for ln in lines if ln.startswith(f"implicit3d {command}: warning: ")]
    assert len(errors) + len(warns) == len(lines), err  # nothing but one-line errors and warnings
    if c.warn:
        assert rc == 0 and not errors, err
        assert any(re.search(c.match, w) for w in warns), err
        assert all(w.count("\n") == 0 for w in warns)
    else:
        assert rc == 2, err
        assert len(errors) == 1, err
        assert re.search(c.match, errors[0]), errors[0]
        if c.output is not None:  # no file written there (an empty folder made before the error is tolerated)
            out = tmp_path / c.output
            written = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else [out] if out.exists() else []
            assert not written, f"written: {written}"
            leftovers = [p.name for p in tmp_path.rglob(".*.tmp")]
            assert not leftovers, leftovers


@pytest.mark.parametrize("content", ["POINTS -5", "empty"])
def test_real_stderr_has_no_traceback(tmp_path, content) -> None:
    """As a subprocess: the real stderr holds one line, no traceback, no numpy warning."""
    path = tmp_path / ("a.pcd" if content != "empty" else "a.xyz")
    path.write_text(_pcd(content) if content != "empty" else "")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-m", "implicit3d.cli", "complete", str(path), "-o",
                           str(tmp_path / "o.ply")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_nested_intrinsics_subprocess(tmp_path) -> None:
    (tmp_path / "K.json").write_text(_nested(100_000))
    Image.fromarray(_object_depth().astype(np.uint16)).save(tmp_path / "d.png")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.run([sys.executable, "-m", "implicit3d.cli", "complete", str(tmp_path / "d.png"),
                           "--intrinsics", str(tmp_path / "K.json"), "-o", str(tmp_path / "o.ply")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "K.json" in proc.stderr
