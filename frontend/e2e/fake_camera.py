"""Write a Y4M video for Chromium's fake camera from one photo:
``python fake_camera.py photo.jpg out.y4m`` (640x480, the photo centred)."""

import sys

import cv2
import numpy as np

WIDTH, HEIGHT, FRAMES = 640, 480, 5


def main(source: str, target: str) -> None:
    photo = cv2.imread(source, cv2.IMREAD_COLOR)
    if photo is None:
        raise SystemExit(f"cannot read {source}")
    scale = HEIGHT / photo.shape[0]
    photo = cv2.resize(photo, (round(photo.shape[1] * scale), HEIGHT), interpolation=cv2.INTER_CUBIC)
    frame = np.full((HEIGHT, WIDTH, 3), 96, np.uint8)
    left = (WIDTH - photo.shape[1]) // 2
    frame[:, left : left + photo.shape[1]] = photo[:, : WIDTH - left]
    planes = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(target, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(FRAMES):
            out.write(b"FRAME\n" + planes)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
