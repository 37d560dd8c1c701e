"""Fine-tuning (issue 15): ONNX -> PyTorch parity on real faces, a tiny training
run that changes the weights and exports a valid ONNX, checkpoints and resume."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from likeness.engine.recognizer import open_recognizer
from likeness.errors import ConflictError, ValidationError
from likeness.learning.training import TrainConfig, load_export, load_torch, train
from likeness.learning.training.convert import input_scale
from likeness.learning.training.trainer import embed, freeze

from paths import MODEL_ROOT, TEST_PACK

BASE = MODEL_ROOT / TEST_PACK / "w600k_mbf.onnx"
PEOPLE = ("Colin_Powell", "Tony_Blair", "George_W_Bush", "Gerhard_Schroeder", "Ariel_Sharon")


@pytest.fixture(scope="module")
def crops(engine, lfw_dir):
    """Aligned crops of real LFW photos: (person, crop) for 5 people x 6 photos."""
    out = []
    for person in PEOPLE:
        for path in sorted((lfw_dir / "lfw-deepfunneled" / person).glob("*.jpg"))[:6]:
            image = cv2.imread(str(path))
            out.append((person, engine.embed(image).crop))
    return out


@pytest.fixture(scope="module")
def export_dir(crops, tmp_path_factory):
    """A folder in the export format: faces.npz, pairs.csv, crops/."""
    folder = tmp_path_factory.mktemp("export")
    (folder / "crops").mkdir()
    names = sorted({p for p, _ in crops})
    keys, identity, split = [], [], []
    for i, (person, crop) in enumerate(crops):
        key = f"f{i:03d}"
        cv2.imwrite(str(folder / "crops" / f"{key}.jpg"), crop)
        keys.append(key)
        identity.append(names.index(person))
        split.append("val" if person == "Ariel_Sharon" else "train")
    np.savez(folder / "faces.npz", keys=np.array(keys), embeddings=np.zeros((len(keys), 512)),
             identity=np.array(identity), split=np.array(split))  # fmt: skip
    with (folder / "pairs.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["split", "label", "a", "b", "score", "source"])
        for a in range(len(keys)):
            for b in range(a + 1, len(keys)):
                if identity[a] == identity[b]:
                    writer.writerow([split[a], "genuine", keys[a], keys[b], "", "test"])
    return folder


def test_pytorch_matches_onnx_runtime_on_real_faces(crops):
    module = load_torch(BASE)
    faces = np.stack([c for _, c in crops])
    ours = embed(module, faces, input_scale(BASE))
    runtime, _ = open_recognizer(BASE).embed_crops(list(faces), flip=False)
    cosine = np.sum(ours * runtime, axis=1)
    assert cosine.min() >= 0.9999, cosine.min()


def test_the_freeze_leaves_only_the_last_layers_learning():
    module = load_torch(BASE)
    names = freeze(module, 3)
    assert names == ["Conv_93", "Gemm_96", "BatchNormalization_97"]
    learning = {n.split(".")[0] for n, p in module.named_parameters() if p.requires_grad}
    assert learning == set(names)
    with pytest.raises(ValidationError):
        freeze(module, 10_000)


def test_a_tiny_training_run_changes_the_weights_and_exports_valid_onnx(export_dir, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(
        data=export_dir, base=BASE, out=out, epochs=1, batch_faces=16, lr=1e-3,
        trainable_layers=4, max_steps=2, parity_faces=16, progress=False,
    )  # fmt: skip
    result = train(config)
    assert result.parity["import"]["min_cosine"] >= 0.9999
    assert result.parity["export"]["min_cosine"] >= 0.9999
    onnx.checker.check_model(onnx.load(str(result.onnx)))
    base, tuned = load_torch(BASE), load_torch(result.onnx)
    changed = [
        name
        for (name, a), (_, b) in zip(
            base.state_dict().items(), tuned.state_dict().items(), strict=True
        )  # fmt: skip
        if not torch.equal(a, b)
    ]
    assert changed and all(n.split(".")[0] in result.trainable for n in changed)
    # BatchNorm statistics stayed frozen
    assert not any("running_" in n for n in changed)
    data = load_export(export_dir)
    new, _ = open_recognizer(result.onnx).embed_crops(list(data.crops[:4]))
    old, _ = open_recognizer(BASE).embed_crops(list(data.crops[:4]))
    assert new.shape == old.shape == (4, 512) and not np.allclose(new, old)
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "checkpoints" / "last.pt").is_file()
    report = json.loads((out / "train.json").read_text())
    assert report["data_sha256"] == result.data_sha256 and len(report["history"]) == 2

    # resume goes on from the checkpoint: a second epoch, not a fresh start
    again = train(TrainConfig(**{**config.__dict__, "epochs": 2, "resume": True, "max_steps": 4}))
    assert [h["epoch"] for h in again.history] == [0, 1, 2]
    with pytest.raises(ConflictError, match="not empty"):
        train(TrainConfig(**{**config.__dict__, "resume": False}))


def test_bad_training_folders_are_refused_clearly(tmp_path, export_dir):
    with pytest.raises(ValidationError, match="not a training export"):
        load_export(tmp_path)
    (tmp_path / "faces.npz").write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="not a readable training export"):
        load_export(tmp_path)
    import shutil

    for name, change, message in (
        ("short", {"identity": np.array([0, 1])}, "differ in length"),
        ("floats", {"identity": None}, "must be integers"),
        ("sides", {"split": None}, "other than train, val"),
    ):
        folder = tmp_path / name
        shutil.copytree(export_dir, folder)
        with np.load(folder / "faces.npz") as data:
            arrays = dict(data)
        n = len(arrays["keys"])
        if name == "floats":
            change = {"identity": arrays["identity"].astype(float) / 2}
        if name == "sides":
            change = {"split": np.array(["test"] * n)}
        np.savez(folder / "faces.npz", **{**arrays, **change})
        with pytest.raises(ValidationError, match=message):
            load_export(folder)
    small = tmp_path / "small"
    shutil.copytree(export_dir, small)
    for crop in (small / "crops").glob("*.jpg"):
        cv2.imwrite(str(crop), cv2.resize(cv2.imread(str(crop)), (96, 96)))
    with pytest.raises(ValidationError, match="96x96 crops"):
        train(TrainConfig(data=small, base=BASE, out=tmp_path / "o1", progress=False))
    for option, message in (({"batch_faces": 0}, "at least 2"), ({"lr": -1.0}, "above 0")):
        with pytest.raises(ValidationError, match=message):
            train(TrainConfig(data=export_dir, base=BASE, out=tmp_path / "o2", progress=False,
                              **option))  # fmt: skip
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_a_graph_that_normalises_its_own_input_round_trips(tmp_path):
    """buffalo_l-era (mxnet) recognisers subtract and scale inside the graph; their
    raw-pixel input must survive the trip through PyTorch and back (a fixture
    graph: buffalo_l is not on these machines)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Sub", ["data", "mean"], ["centred"], name="_minus0"),
        helper.make_node("Mul", ["centred", "scale"], ["scaled"], name="_mul0"),
        helper.make_node("Conv", ["scaled", "w"], ["conv"], strides=[8, 8], name="conv0"),
        helper.make_node("Flatten", ["conv"], ["flat"], name="flat0"),
        helper.make_node("Gemm", ["flat", "fc", "fcb"], ["fc1"], transB=1, name="fc0"),
    ]
    inits = [
        numpy_helper.from_array(np.full((1, 3, 1, 1), 127.5, np.float32), "mean"),
        numpy_helper.from_array(np.full((1, 3, 1, 1), 1 / 128, np.float32), "scale"),
        numpy_helper.from_array(rng.standard_normal((4, 3, 8, 8)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal((16, 4 * 14 * 14)).astype(np.float32), "fc"),
        numpy_helper.from_array(np.zeros(16, np.float32), "fcb"),
    ]
    graph = helper.make_graph(
        nodes, "mxnet_style",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", 16])],
        inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    source = tmp_path / "mxnet_style.onnx"
    onnx.save(model, str(source))
    assert input_scale(source) == (0.0, 1.0)

    from likeness.learning.training import export_onnx

    exported = export_onnx(load_torch(source), tmp_path / "out.onnx", 112, (0.0, 1.0))
    assert input_scale(exported) == (0.0, 1.0)  # insightface still sees raw pixels
    crops = rng.integers(0, 256, (8, 112, 112, 3), dtype=np.uint8)
    before, _ = open_recognizer(source).embed_crops(list(crops))
    after, _ = open_recognizer(exported).embed_crops(list(crops))
    ours = embed(load_torch(source), crops, input_scale(source))
    assert np.sum(before * after, axis=1).min() >= 0.9999
    assert np.sum(before * ours, axis=1).min() >= 0.9999
