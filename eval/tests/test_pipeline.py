"""End to end through the real engine (buffalo_s) on real LFW images."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures import write_bin, write_xlfw

from likeness_eval.cli import main, run_eval
from likeness_eval.datasets import load_lfw
from likeness_eval.embedding import centre_crop, embed_pairset

REQUIRED_KEYS = {
    "dataset",
    "model",
    "pairs_total",
    "images_without_face",
    "accuracy",
    "best_accuracy",
    "eer",
    "auc",
    "threshold",
    "fmr_at_threshold",
    "fnmr_at_threshold",
    "fnmr_at_fmr",
    "images_per_second",
    "input_sha256",
    "settings",
    "counts",
    "timings_s",
}
LFW_PAIRS_SHA256 = "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592"


def _files_exist(out):
    for name in ("report.json", "report.md", "roc.png", "det.png", "scores.png", "scores.npz"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.slow
def test_lfw_subset_end_to_end_and_cache(tmp_path, lfw_dir, engine):
    out, cache = tmp_path / "out", tmp_path / "cache"
    kw = dict(model_root=None, limit=300, cache_dir=cache, engine=engine, progress=False)
    report = run_eval("lfw", lfw_dir, out, **kw)
    _files_exist(out)
    on_disk = json.loads((out / "report.json").read_text())
    assert set(on_disk) >= REQUIRED_KEYS
    assert on_disk["pairs_total"] == 300 and on_disk["counts"]["genuine"] == 150
    assert on_disk["images_without_face"] == []
    assert on_disk["accuracy"]["mean"] >= 0.98
    assert on_disk["auc"] >= 0.995
    assert on_disk["input_sha256"] == {"pairs.txt": LFW_PAIRS_SHA256}
    assert on_disk["settings"]["model_pack"] == "buffalo_s"
    assert report["counts"]["images_computed"] == report["counts"]["images"]
    assert report["images_per_second"] > 0
    assert "10-fold accuracy" in (out / "report.md").read_text()
    first = np.load(out / "scores.npz")["scores"]

    again = run_eval("lfw", lfw_dir, tmp_path / "out2", **kw)  # all from the cache
    assert again["counts"]["images_cached"] == again["counts"]["images"]
    assert again["counts"]["images_computed"] == 0
    assert again["images_per_second"] is None
    np.testing.assert_array_equal(np.load(tmp_path / "out2" / "scores.npz")["scores"], first)


def _lfw_sample(lfw_dir, n=10):
    """n genuine and n impostor pairs of LFW fold 1, interleaved."""
    ps = load_lfw(lfw_dir)
    gen = np.flatnonzero(ps.issame)[:n]
    imp = np.flatnonzero(~ps.issame)[:n]
    order = np.ravel(np.column_stack([gen, imp]))
    return [(ps.path(ps.pairs[p, 0]), ps.path(ps.pairs[p, 1]), bool(ps.issame[p])) for p in order]


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "folder"), [("calfw", "aligned images"), ("cplfw", "images")])
def test_calfw_cplfw_fixture_through_engine(tmp_path, lfw_dir, engine, dataset, folder):
    """CALFW/CPLFW format built from LFW crops; one image holds no face."""
    data = tmp_path / "data"
    (data / folder).mkdir(parents=True)
    pairs, names = [], {}
    for a, b, same in _lfw_sample(lfw_dir):
        row = []
        for src in (a, b):
            if src not in names:
                person, num = src.stem.rsplit("_", 1)
                name = f"{person}_{int(num)}.jpg" if dataset == "cplfw" else src.name
                crop = cv2.imread(str(src))[35:215, 35:215]  # 180x180 around the face
                cv2.imwrite(str(data / folder / name), crop)
                names[src] = name
            row.append(names[src])
        pairs.append((*row, same))
    blank = np.full((120, 120, 3), 128, np.uint8)
    cv2.imwrite(str(data / folder / "Nobody_0001.jpg"), blank)
    pairs[1] = (pairs[1][0], "Nobody_0001.jpg", False)  # an impostor pair with no face
    write_xlfw(data, dataset, pairs, folder)

    out = tmp_path / "out"
    report = run_eval(dataset, data, out, model_root=None, engine=engine, progress=False)
    _files_exist(out)
    assert report["pairs_total"] == 20  # nothing dropped
    assert report["images_without_face"] == ["Nobody_0001.jpg"]
    assert report["counts"]["pairs_with_fallback"] == 1
    assert report["best_accuracy"] >= 0.95
    assert report["dataset"] == dataset


@pytest.mark.slow
def test_bin_fixture_embeds_aligned_crops(tmp_path, lfw_dir, engine):
    """A .bin of engine-aligned LFW crops gives embeddings close to the full path."""
    sample = _lfw_sample(lfw_dir)
    crops, issame = [], []
    for a, b, same in sample:
        for src in (a, b):
            image = cv2.imread(str(src))
            faces = engine.detect(image)
            crops.append(engine.align(image, faces[0]))
        issame.append(same)
    path = write_bin(tmp_path / "lfw.bin", crops, issame)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--dataset",
                "lfw",
                "--data-dir",
                str(path),
                "--out",
                str(out),
                "--model",
                "buffalo_s",
                "--model-root",
                str(engine.settings.model_root),
                "--no-cache",
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["source"] == "bin" and report["pairs_total"] == 20
    assert report["images_without_face"] == []
    assert report["best_accuracy"] == 1.0
    direct, _ = engine.embed_aligned(crops[:4])
    ps_scores = np.load(out / "scores.npz")["scores"]
    assert ps_scores[0] == pytest.approx(float(direct[0] @ direct[1]), abs=0.03)


def test_centre_crop():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = 255  # the centred square
    crop = centre_crop(image, 112)
    assert crop.shape == (112, 112, 3)
    assert crop.min() == 255


def test_embed_pairset_runs_no_face_fallback(tmp_path, engine):
    from likeness_eval.datasets import PairSet

    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((64, 64, 3), 40 * i, np.uint8))
    ps = PairSet(
        "x",
        "pairs",
        ["0.png", "1.png"],
        np.array([[0, 1]]),
        np.array([False]),
        np.array([0]),
        image_root=tmp_path,
    )
    run = embed_pairset(engine, ps, progress=False)
    assert run.no_face.tolist() == [True, True]
    assert np.allclose(np.linalg.norm(run.embeddings, axis=1), 1, atol=1e-5)


def test_cache_is_keyed_by_every_setting_that_changes_an_embedding(tmp_path, model_root, engine):
    """With max_faces=1 the detector keeps one face of a group photo, so the face
    chosen (and its embedding) can differ: the cache must not hand back the other."""
    import insightface

    from likeness_eval.cli import build_engine
    from likeness_eval.datasets import PairSet

    group = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "t1.jpg").write_bytes(group.read_bytes())
    (tmp_path / "img" / "a.jpg").write_bytes(group.read_bytes()[:-1] + b"\xd9")
    ps = PairSet(
        "x",
        "pairs",
        ["t1.jpg", "a.jpg"],
        np.array([[0, 1]]),
        np.array([True]),
        np.array([0]),
        image_root=tmp_path / "img",
    )
    cache = tmp_path / "cache"
    first = embed_pairset(engine, ps, cache_dir=cache, progress=False)
    one_face = build_engine("buffalo_s", model_root, max_faces=1)
    assert one_face.embedding_settings() != engine.embedding_settings()
    cached = embed_pairset(one_face, ps, cache_dir=cache, progress=False)
    fresh = embed_pairset(one_face, ps, cache_dir=None, progress=False)
    assert cached.cached == 0 and first.computed == 2
    assert np.allclose(cached.embeddings, fresh.embeddings, atol=1e-5)
    again = embed_pairset(one_face, ps, cache_dir=cache, progress=False)
    assert again.cached == 2 and np.allclose(again.embeddings, fresh.embeddings, atol=1e-5)
