import hashlib
import pickle

import numpy as np
import pytest
from fixtures import make_lfw, make_xlfw, tiny_jpeg, write_bin

from likeness_eval.datasets import DatasetError, load_bin, load_dataset, load_lfw, load_xlfw


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("folder", ["lfw", "lfw-deepfunneled"])
def test_lfw_pairs_folds_and_names(tmp_path, folder):
    make_lfw(tmp_path, folds=2, per=3, folder=folder)
    ps = load_dataset("lfw", tmp_path)
    assert ps.source == "pairs" and not ps.aligned
    assert len(ps) == 12 and ps.n_folds == 2
    assert ps.image_root == (tmp_path / folder).resolve()
    # per fold: 3 genuine then 3 impostor
    assert ps.issame.tolist() == ([True] * 3 + [False] * 3) * 2
    assert ps.folds.tolist() == [0] * 6 + [1] * 6
    a, b = ps.pairs[0]
    assert ps.images[a] == "Person_G00/Person_G00_0001.jpg"
    assert ps.images[b] == "Person_G00/Person_G00_0002.jpg"
    a, b = ps.pairs[3]
    assert ps.images[a] == "Person_A00/Person_A00_0001.jpg"
    assert ps.images[b] == "Person_B00/Person_B00_0001.jpg"
    assert all(ps.path(i).is_file() for i in range(len(ps.images)))
    assert ps.input_hashes == {"pairs.txt": _sha(tmp_path / "pairs.txt")}


def test_lfw_shared_images_are_listed_once(tmp_path):
    make_lfw(tmp_path, folds=1, per=2)
    text = (tmp_path / "pairs.txt").read_text().splitlines()
    text[4] = "Person_G00\t1\tPerson_G01\t1"  # impostor reusing two genuine images
    (tmp_path / "pairs.txt").write_text("\n".join(text) + "\n")
    ps = load_lfw(tmp_path)
    assert len(ps.images) == len(set(ps.images))
    assert ps.images[ps.pairs[3, 0]] == ps.images[ps.pairs[0, 0]]


def test_lfw_errors(tmp_path):
    make_lfw(tmp_path, folds=1, per=2)
    (tmp_path / "lfw" / "Person_G00" / "Person_G00_0002.jpg").unlink()
    with pytest.raises(DatasetError, match="missing"):
        load_lfw(tmp_path)
    lines = (tmp_path / "pairs.txt").read_text().splitlines()
    (tmp_path / "pairs.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="expected 4 pair lines"):
        load_lfw(tmp_path)
    lines[1] = "Person_G00\t1"
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="genuine"):
        load_lfw(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("lfw", tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("dataset", "folder", "name"),
    [
        ("calfw", "aligned images", "Person_0_0001.jpg"),
        ("calfw", "images&landmarks/images&landmarks/images", "Person_0_0001.jpg"),
        ("cplfw", "images", "Person_0_1.jpg"),
    ],
)
def test_calfw_cplfw_format(tmp_path, dataset, folder, name):
    make_xlfw(tmp_path, dataset, n_pairs=20, folder=folder)
    ps = load_dataset(dataset, tmp_path)
    assert ps.name == dataset and len(ps) == 20
    assert ps.folds.tolist() == [i // 2 for i in range(20)]  # 10 consecutive folds of 2
    assert ps.issame.tolist() == [True, False] * 10
    assert ps.images[ps.pairs[0, 0]] == name
    assert ps.image_root == (tmp_path / folder).resolve()
    pair_file = {"calfw": "pairs_CALFW.txt", "cplfw": "pairs_CPLFW.txt"}[dataset]
    assert ps.input_hashes == {pair_file: _sha(tmp_path / pair_file)}


def test_calfw_errors(tmp_path):
    make_xlfw(tmp_path, "calfw", n_pairs=20)
    path = tmp_path / "pairs_CALFW.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="odd number"):
        load_xlfw(tmp_path, "calfw")
    bad = list(lines)
    bad[1] = bad[1].replace(" 1", " 0")
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(DatasetError, match="same token"):
        load_xlfw(tmp_path, "calfw")
    path.write_text("\n".join(lines[:-2]) + "\n")  # 19 pairs: not 10 equal folds
    with pytest.raises(DatasetError, match="folds"):
        load_xlfw(tmp_path, "calfw")
    path.write_text("\n".join(lines) + "\n")
    (tmp_path / "aligned images" / "Person_0_0001.jpg").unlink()
    with pytest.raises(DatasetError, match="No image folder"):
        load_xlfw(tmp_path, "calfw")


def test_bin_format(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (112, 112, 3), np.uint8) for _ in range(40)]
    issame = [i % 2 == 0 for i in range(20)]
    path = write_bin(tmp_path / "calfw.bin", images, issame)
    for source in (path, tmp_path):  # the file itself, or a folder holding <dataset>.bin
        ps = load_dataset("calfw", source)
        assert ps.source == "bin" and ps.aligned and len(ps) == 20
        assert ps.pairs[3].tolist() == [6, 7]
        assert ps.issame.tolist() == issame
        assert ps.folds.tolist() == [i // 2 for i in range(20)]
        assert ps.blobs[5][:2] == b"\xff\xd8"  # JPEG
        assert ps.input_hashes == {"calfw.bin": _sha(path)}


def test_bin_errors(tmp_path):
    path = tmp_path / "x.bin"
    with path.open("wb") as f:
        pickle.dump(([b"a"] * 3, [True]), f)
    with pytest.raises(DatasetError, match="expected 2 per pair"):
        load_bin(path)
    path.write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="not an InsightFace"):
        load_bin(path)


def test_subset_is_balanced_per_fold(tmp_path):
    make_lfw(tmp_path, folds=2, per=3)
    ps = load_lfw(tmp_path).subset(8)  # 2 per class per fold
    assert len(ps) == 8
    assert ps.issame.tolist() == [True, True, False, False] * 2
    assert ps.folds.tolist() == [0] * 4 + [1] * 4
    assert ps.pairs.max() == len(ps.images) - 1
    assert all(ps.path(i).is_file() for i in range(len(ps.images)))


def test_tiny_jpeg_helper(tmp_path):
    tiny_jpeg(tmp_path / "a.jpg", 1)
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"


def _official_calfw(root, per_fold: int = 2, folds: int = 10):
    """The official pairs_CALFW.txt layout: every genuine pair first, its token the
    fold number 1..10, then every impostor pair with token 0."""
    folder = root / "aligned images"
    lines, k = [], 0
    for fold in range(1, folds + 1):
        for i in range(per_fold):
            a, b = f"G{fold}x{i}_0001.jpg", f"G{fold}x{i}_0002.jpg"
            lines += [f"{a} {fold}", f"{b} {fold}"]
            for f in (a, b):
                tiny_jpeg(folder / f, k)
                k += 1
    for j in range(folds * per_fold):
        a, b = f"N{j}_0001.jpg", f"M{j}_0001.jpg"
        lines += [f"{a} 0", f"{b} 0"]
        for f in (a, b):
            tiny_jpeg(folder / f, k)
            k += 1
    (root / "pairs_CALFW.txt").write_text("\n".join(lines) + "\n")
    return lines


def test_official_calfw_layout_folds_come_from_the_tokens(tmp_path):
    _official_calfw(tmp_path)
    ps = load_dataset("calfw", tmp_path)
    assert len(ps) == 40 and ps.issame.sum() == 20
    assert ps.issame.tolist() == [True] * 20 + [False] * 20
    assert ps.folds[:20].tolist() == [f for f in range(10) for _ in range(2)]  # tokens 1..10
    assert ps.folds[20:].tolist() == [j // 2 for j in range(20)]  # i-th impostor: i // 2
    for fold in range(10):  # every fold holds both classes (not blocks of one class)
        assert set(ps.issame[ps.folds == fold].tolist()) == {True, False}


def test_label_layout_listed_one_class_at_a_time_still_mixes_folds(tmp_path):
    make_xlfw(tmp_path, "calfw", n_pairs=20)
    path = tmp_path / "pairs_CALFW.txt"
    lines = path.read_text().splitlines()
    pairs = [lines[i : i + 2] for i in range(0, len(lines), 2)]
    genuine = [p for p in pairs if p[0].endswith(" 1")]
    impostor = [p for p in pairs if p[0].endswith(" 0")]
    path.write_text("\n".join(sum(genuine + impostor, [])) + "\n")
    ps = load_xlfw(tmp_path, "calfw")
    for fold in range(10):
        assert set(ps.issame[ps.folds == fold].tolist()) == {True, False}


def test_tokens_are_checked_against_the_names(tmp_path):
    lines = _official_calfw(tmp_path)
    path = tmp_path / "pairs_CALFW.txt"
    bad = list(lines)
    bad[40], bad[41] = bad[40].replace(" 0", " 3"), bad[41].replace(" 0", " 3")  # a stranger pair
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(DatasetError, match="disagree with the person names"):
        load_xlfw(tmp_path, "calfw")
    bad = list(lines)
    bad[0], bad[1] = bad[0].replace(" 1", " 11"), bad[1].replace(" 1", " 11")
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(DatasetError, match="fold numbers are 1..10"):
        load_xlfw(tmp_path, "calfw")
    bad = list(lines)
    bad[0], bad[1] = bad[0].replace(" 1", " x"), bad[1].replace(" 1", " x")
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(DatasetError, match="must be a number"):
        load_xlfw(tmp_path, "calfw")
