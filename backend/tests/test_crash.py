"""A server killed with SIGKILL during a burst of writes (issue 10): every write
that was answered 2xx is in the database afterwards, and the gallery index agrees
with the database. Real Gunicorn (2 workers x 4 threads), real HTTP; SQLite and
PostgreSQL. (Marked slow: about half a minute each.)"""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dbtargets import BACKENDS, database_url
from support import GunicornServer, lfw_path

PEOPLE = ["Abel_Pacheco", "Hans_Blix", "Gray_Davis", "Colin_Powell", "Tony_Blair", "Jack_Straw"]


def _photos(lfw_dir, name: str) -> list:
    return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_acknowledged_write_is_lost_when_the_server_is_killed(
    backend, model_root, lfw_dir, tmp_path
):
    with database_url(backend, tmp_path) as url:
        env = {"LIKENESS_DATABASE_URL": url} if backend == "postgresql" else {}
        server = GunicornServer(model_root, tmp_path / "server", workers=2, **env).start()
        base = server.url
        # verifications to vote on
        pair = [lfw_path(lfw_dir, "Abel_Pacheco", 1), lfw_path(lfw_dir, "Abel_Pacheco", 2)]
        ids = []
        for _ in range(6):
            files = {f"image{i + 1}": (p.name, p.read_bytes()) for i, p in enumerate(pair)}
            ids.append(
                requests.post(f"{base}/api/verify", files=files, timeout=60).json()[
                    "verification_id"
                ]
            )
        acknowledged = {"votes": {}, "faces": {}}
        lock = threading.Lock()
        stop = threading.Event()

        def vote(k: int) -> None:
            while not stop.is_set():
                vid, choice = ids[k % len(ids)], ("up", "down")[k % 2]
                try:
                    r = requests.post(
                        f"{base}/api/feedback",
                        json={"verification_id": vid, "vote": choice},
                        timeout=10,
                    )
                except requests.RequestException:
                    return
                if r.status_code in (200, 201):
                    with lock:
                        acknowledged["votes"][vid] = choice
                k += 2

        def enrol(name: str) -> None:
            try:
                person = requests.post(
                    f"{base}/api/persons", json={"name": name, "consent_basis": "test"}, timeout=10
                )
                if person.status_code != 201:
                    return
                pid = person.json()["id"]
                for path in _photos(lfw_dir, name)[:6]:
                    if stop.is_set():
                        return
                    r = requests.post(
                        f"{base}/api/persons/{pid}/faces",
                        files={"image": (path.name, io.BytesIO(path.read_bytes()))},
                        timeout=30,
                    )
                    if r.status_code == 201:
                        with lock:
                            for accepted in r.json()["accepted"]:
                                acknowledged["faces"][accepted["face_id"]] = pid
            except requests.RequestException:
                return

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(vote, k) for k in range(2)]
            futures += [pool.submit(enrol, name) for name in PEOPLE]
            time.sleep(4)
            server.kill()  # mid-burst
            stop.set()
            for future in futures:
                future.result(timeout=60)
        assert acknowledged["faces"] and acknowledged["votes"], acknowledged

        from likeness.gallery import Gallery, GalleryStore, IndexConfig
        from likeness.storage import Database
        from likeness.storage.feedback import FeedbackStore

        db = Database(
            url if backend == "postgresql" else f"sqlite:///{tmp_path / 'server' / 'likeness.db'}"
        )
        store = FeedbackStore(db)
        for vid in acknowledged["votes"]:
            # stored (a request in flight at the kill may have changed it since)
            assert store.get(vid) is not None, f"the acknowledged vote on {vid} was lost"
        ids_in_db = set(GalleryStore(db).face_ids().tolist())
        assert set(acknowledged["faces"]) <= ids_in_db, "an acknowledged face was lost"
        gallery = Gallery(
            GalleryStore(db), IndexConfig(dim=512), tmp_path / "server" / "gallery.faiss"
        ).open()
        assert set(gallery.index.ids().tolist()) == ids_in_db
        db.dispose()
