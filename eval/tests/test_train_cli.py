"""``likeness train`` end to end on a tiny export of real LFW crops: trains, exports,
registers a candidate with its card; without LFW the gate is said not to have run,
and the candidate then needs --force to be activated."""

from __future__ import annotations

import csv
import json
import os

import cv2
import numpy as np
import pytest
from likeness.cli import main


@pytest.fixture
def env(model_root, tmp_path, monkeypatch):
    """Settings for a writable model root (symlinks to the shared pack)."""
    root = tmp_path / "models" / "buffalo_s"
    root.mkdir(parents=True)
    for source in (model_root / "buffalo_s").glob("*.onnx"):
        os.symlink(source, root / source.name)
    monkeypatch.setenv("LIKENESS_MODEL_ROOT", str(root.parent))
    monkeypatch.setenv("LIKENESS_MODEL_PACK", "buffalo_s")
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIKENESS_DATABASE_URL", raising=False)
    monkeypatch.delenv("LIKENESS_LFW_DIR", raising=False)
    from likeness.settings import get_settings

    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


@pytest.fixture
def export(engine, lfw_dir, tmp_path):
    folder = tmp_path / "export"
    (folder / "crops").mkdir(parents=True)
    keys, identity = [], []
    for person_index, person in enumerate(("Colin_Powell", "Tony_Blair", "Jacques_Chirac")):
        for path in sorted((lfw_dir / "lfw-deepfunneled" / person).glob("*.jpg"))[:4]:
            key = f"k{len(keys):03d}"
            cv2.imwrite(
                str(folder / "crops" / f"{key}.jpg"), engine.embed(cv2.imread(str(path))).crop
            )
            keys.append(key)
            identity.append(person_index)
    np.savez(folder / "faces.npz", keys=np.array(keys), embeddings=np.zeros((len(keys), 512)),
             identity=np.array(identity), split=np.array(["train"] * len(keys)))  # fmt: skip
    with (folder / "pairs.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["split", "label", "a", "b", "score", "source"])
        writer.writerow(["train", "genuine", keys[0], keys[1], "", "test"])
    return folder


def test_train_registers_an_ungated_candidate(env, export, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", str(export), "--epochs", "1", "--batch", "8",
                 "--out", str(out), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "the gate did not run" in captured.err
    body = json.loads(captured.out)
    version = body["version"]
    assert version["status"] == "candidate" and version["gate"] == "none"
    assert (env / "versions" / version["id"] / "recognizer.onnx").is_file()
    assert body["train"]["parity"]["export"]["min_cosine"] >= 0.9999
    assert main(["models", "activate", version["id"]]) == 2
    assert "--force" in capsys.readouterr().err
    # the same run again (same data and seed: the same file) is not a second version
    again = main(["train", "--data", str(export), "--epochs", "1", "--batch", "8",
                  "--out", str(tmp_path / "run2")])  # fmt: skip
    assert again == 0
    assert f"registered already, as {version['id']}" in capsys.readouterr().out


def test_train_refuses_a_folder_that_is_not_an_export(env, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("likeness: VALIDATION_ERROR:") and "not a training export" in err
    assert not (tmp_path / "data" / "training").exists() or not any(
        (tmp_path / "data" / "training").iterdir()
    )
