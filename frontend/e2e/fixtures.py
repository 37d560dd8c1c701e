"""Test inputs made at test time from LFW photos (nothing is committed):

``python fixtures.py camera photo.jpg out.y4m``: a Y4M video for Chromium's fake
camera, 640x480 with the photo centred.
``python fixtures.py exif photo.jpg out.jpg``: a non-square JPEG stored turned
on its side with EXIF Orientation 6, so only an EXIF-aware reader sees it upright
(upright it is the photo with a grey band on its right, 400x250 for LFW)."""

import sys

import cv2
import numpy as np
from PIL import Image

WIDTH, HEIGHT, FRAMES = 640, 480, 5


def camera(source: str, target: str) -> None:
    photo = cv2.imread(source, cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"cannot read {source}")
    scale = HEIGHT / photo.shape[0]
    size = (round(photo.shape[1] * scale), HEIGHT)
    photo = cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC)
    frame = np.full((HEIGHT, WIDTH, 3), 96, np.uint8)
    left = (WIDTH - photo.shape[1]) // 2
    frame[:, left : left + photo.shape[1]] = photo[:, : WIDTH - left]
    planes = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(target, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FRAMES):
            out.write(b"FRAME\n" + planes)


def exif(source: str, target: str) -> None:
    photo = Image.open(source).convert("RGB")
    upright = Image.new("RGB", (photo.width * 8 // 5, photo.height), (128, 128, 128))
    upright.paste(photo, (0, 0))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # Orientation 6 turns it back
    tags = Image.Exif()
    tags[0x0112] = 6
    stored.save(target, "JPEG", quality=92, exif=tags.tobytes())


if __name__ == "__main__":
    {"camera": camera, "exif": exif}[sys.argv[1]](sys.argv[2], sys.argv[3])
