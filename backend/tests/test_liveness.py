"""Passive liveness (issue 11, first part): the Silent-Face MiniFASNet models from
the model root, hash-checked, on the shared anti-spoofing samples: T1 is a live
face, F1 and F2 are photos shown to a camera."""

from __future__ import annotations

import cv2
import pytest

from likeness.engine.liveness import crop_box
from likeness.errors import ModelFilesMissingError

from paths import SHARED

SAMPLES = SHARED / "datasets" / "antispoof-samples"


@pytest.mark.parametrize(("name", "live"), [("T1", True), ("F1", False), ("F2", False)])
def test_the_shared_samples_come_out_right(engine, name, live):
    path = SAMPLES / f"image_{name}.jpg"
    assert path.is_file(), f"{path} missing (../shared/datasets/antispoof-samples)"
    image = cv2.imread(str(path))
    (face,) = engine.detect(image)
    result = engine.liveness().check(image, face)
    assert result.is_live is live, (name, result)
    assert (result.score > 0.9) if live else (result.score < 0.4)


def test_crops_stay_inside_the_image():
    assert crop_box(100, 100, [40, 40, 60, 60], 2.7) == (23, 23, 77, 77)
    left, top, right, bottom = crop_box(100, 80, [0, 0, 30, 30], 4.0)  # shifted, not cut
    assert (left, top) == (0, 0) and right - left == bottom - top == 79
    assert crop_box(100, 80, [70, 50, 99, 79], 4.0)[2:] == (99, 79)


def test_missing_models_say_what_is_expected(make_settings, tmp_path):
    from likeness.engine import FaceEngine

    settings = make_settings()
    engine = FaceEngine(settings)
    engine.settings = settings.model_copy(update={"model_root": tmp_path})
    with pytest.raises(ModelFilesMissingError) as missing:
        engine.liveness()
    assert "2.7_80x80_MiniFASNetV2.onnx" in missing.value.message
    assert "antispoof" in missing.value.message
