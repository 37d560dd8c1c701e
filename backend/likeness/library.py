"""``FaceRecognitionLibrary``: Likeness as a Python library.

>>> lib = FaceRecognitionLibrary(index_dir="gallery", model_name="buffalo_s")
>>> person = lib.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
>>> result = lib.search("probe.jpg")
>>> result.identity.person_name if result.identity else "unknown"

Images are paths, bytes or BGR arrays. Errors are the classes of
``likeness.errors`` (the same ones the HTTP API maps to status codes). The gallery
lives in the database (SQLite file in ``index_dir`` unless
``LIKENESS_DATABASE_URL`` says otherwise) with its FAISS index next to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from likeness.clustering.facade import ClusteringMixin
from likeness.engine import FaceEngine
from likeness.errors import (
    ImageNotFoundError,
    LikenessError,
    NoPhotoAcceptedError,
    NotFoundError,
    PersonExistsError,
    PersonNotFoundError,
    ValidationError,
)
from likeness.gallery import enrolment
from likeness.gallery.bulk import BulkIndexer, BulkReport, Failure
from likeness.gallery.enrolment import EnrolmentResult, Rejection, RemovalReport
from likeness.gallery.faces import ALL, ONE, ImageSource, list_images, prepare
from likeness.gallery.gallery import INDEX_FILE, Gallery
from likeness.gallery.index import IndexConfig
from likeness.gallery.store import GalleryStore, NewFace, NewImage, PersonInfo
from likeness.gallery.validation import check_consent, check_metadata, check_name
from likeness.imaging import ImageLimits, encode_crop
from likeness.jobs import JobRecord, JobStore
from likeness.jobs.facade import JobsMixin
from likeness.learning import ThresholdBook
from likeness.learning.templates import Exemplar, Templates
from likeness.quality import FaceGate
from likeness.quality.filter import filter_source
from likeness.registry import ActiveModel
from likeness.registry.active import follows_model
from likeness.registry.facade import ModelsMixin
from likeness.search import SearchReport, SearchResult, search_photo, search_vector
from likeness.settings import Settings, load_settings
from likeness.storage import Database
from likeness.storage.search_feedback import SearchRecords, SearchVote
from likeness.verification import Verification, embed_source, verify


class FaceRecognitionLibrary(ClusteringMixin, ModelsMixin, JobsMixin):
    """1:1 comparison and 1:N search over an enrolled gallery. Built from ``settings``,
    else from a YAML file (``config_path``) and the environment, with ``index_dir``
    (the data folder), ``model_name`` (the pack) and keyword ``overrides`` of any
    setting. ``engine``, ``database`` and ``gate`` (or the whole ``model``) may be
    passed in so models and connections are shared. The model version is the
    registry's active one, followed while the library runs."""

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        index_dir: str | os.PathLike[str] | None = None,
        model_name: str | None = None,
        *,
        settings: Settings | None = None,
        engine: FaceEngine | None = None,
        database: Database | None = None,
        gate: FaceGate | None = None,
        thresholds: ThresholdBook | None = None,
        model: ActiveModel | None = None,
        migrate: bool = True,
        autosave: bool = True,
        bulk_workers: int = 2,
        **overrides,
    ) -> None:
        if settings is None:
            if index_dir is not None:
                overrides["data_dir"] = Path(index_dir)
            if model_name is not None:
                overrides["model_pack"] = model_name
            settings = load_settings(config_path, **overrides)
        self.settings = settings
        self.index_dir = Path(index_dir) if index_dir is not None else settings.data_dir
        self.database = database or Database(settings.sqlalchemy_url)
        self._own_database = database is None
        if migrate:
            self.database.migrate()
        self.model = model or ActiveModel(self.database, settings, engine, gate, thresholds)
        self.limits = ImageLimits.from_settings(settings)
        self.bulk_workers = bulk_workers
        store = GalleryStore(self.database, settings.model_pack, self.model.version)
        config = IndexConfig.from_settings(settings, dim=self.engine.recognizer.dim)
        self.gallery = Gallery(
            store,
            config,
            self.index_dir / INDEX_FILE if settings.gallery_index else None,
            autosave=autosave,
            background=settings.gallery_background_rebuild,
            writer_only=not settings.gallery_index,
        )
        self.gallery.open()
        self.jobs = JobStore(self.database)
        self.templates = Templates(
            self.database, settings.template_exemplars_max, self.model.version
        )
        self.model.on_swap(self._follow_version)
        self.gallery.on_model_change = lambda _: self.model.follow(force=True)
        self._runner = None  # JobsMixin.runner: in-process or Celery

    # -- basics -------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        """The 1:1 threshold in force (``compare``; ``likeness.learning.thresholds``)."""
        return self.thresholds.verify()

    @property
    def search_threshold(self) -> float:
        """The 1:N threshold in force (``search``)."""
        return self.thresholds.search()

    @property
    def store(self) -> GalleryStore:
        """The gallery's database side (persons, images, faces)."""
        return self.gallery.store

    @follows_model
    def get_embedding(self, image: ImageSource) -> np.ndarray:
        """The unit embedding (float32) of the face chosen by the face policy."""
        return embed_source(self.engine, image, limits=self.limits).embedding

    @follows_model
    def compare(
        self,
        image1: ImageSource,
        image2: ImageSource,
        liveness: bool | Sequence[str] = False,
        face_policy: str | None = None,
    ) -> Verification:
        """1:1 verification, the same code path as ``/api/verify``: the result holds
        each face's checks; ``liveness`` (True, or ``["image2"]`` for the camera shot
        only) makes a face that is not live a "no match" with reason ``spoof``."""
        return verify(
            self.engine,
            {"image1": image1, "image2": image2},
            face_policy,
            self.limits,
            gate=self.gate,
            liveness=liveness,
            threshold=self.threshold,
        )

    @follows_model
    def filter_image(
        self,
        image: ImageSource,
        liveness: bool = False,
        face_policy: str | None = None,
    ) -> dict:
        """Is the face of ``image`` (chosen by the face policy) fit to use? ``is_valid``,
        ``rejection_reason`` (no_face, too_small, cartoon, low_quality, spoof),
        every failed check in ``reasons``, and the ``scores``. Passive liveness
        runs only with ``liveness=True``."""
        return filter_source(
            self.gate, image, self.limits, face_policy, liveness=liveness
        ).as_dict()

    # -- indexing -----------------------------------------------------------------
    def _embed_one(self, source: ImageSource, mode: str, bulk: bool = True):
        """Prepare and embed one image; every face carries its checks and a usable
        flag (``bulk``: a face's small share of the image does not count)."""
        item = prepare(self.engine, source, mode, self.limits)  # mode: ALL, ONE, STRICT, LARGEST
        if item.error is not None:
            raise item.error
        unit, norms = self.engine.embed_aligned(item.crops)
        faces, checks = [], []
        for j, detected in enumerate(item.faces):
            check = self.gate.check(
                detected,
                item.crops[j],
                unit[j],
                float(norms[j]),
                (item.width, item.height),
                bulk=bulk,
            )
            checks.append(check)
            faces.append(
                NewFace(
                    unit[j],
                    detected.box.tolist(),
                    detected.score,
                    float(norms[j]),
                    usable=check.is_valid,
                    checks=check.as_dict(),
                    crop=encode_crop(item.crops[j]) if self.settings.gallery_store_crops else None,
                )
            )
        return item, faces, checks

    @follows_model
    def index_image(
        self,
        image: ImageSource,
        image_id: str | None = None,
        metadata: dict | None = None,
        person_id: int | None = None,
    ) -> list[int]:
        """Index every face of one image; returns the new face ids. Indexing the same
        content again (without a new ``image_id``) returns the existing ids."""
        if image_id is None:
            from likeness.gallery.faces import read_source

            digest, _ = read_source(image)
            existing = self.store.face_ids_of_hash(digest, person_id)
            if existing is not None:
                return existing
        metadata = check_metadata(metadata)
        item, faces, _ = self._embed_one(image, ONE if person_id is not None else ALL)
        new = NewImage(
            content_hash=item.content_hash,
            width=item.width,
            height=item.height,
            faces=faces,
            image_id=image_id,
            source=str(image) if isinstance(image, (str, Path)) else None,
            person_id=person_id,
            metadata=metadata,
            model_version=self.engine.version,
        )
        ids = self.gallery.add_images([new])[0]
        if person_id is None:
            self.assign_new_faces(ids)
        return ids

    @follows_model
    def index_batch(
        self,
        paths: Sequence[ImageSource],
        on_progress: Callable | None = None,
        *,
        persons: Sequence[str | int | None] | None = None,
        progress_bar: bool = False,
    ) -> BulkReport:
        """Bulk-index many images (parallel decode, batched embedding, skip done files,
        failures reported). With ``persons`` (a name or person id per image), one face
        per image (face policy) is enrolled for that person; names are created on
        first use (one person per distinct name in this batch)."""
        person_ids = None
        mode = ALL
        if persons is not None:
            if len(persons) != len(paths):
                raise ValidationError("persons must give one entry per image", field="persons")
            person_ids = self._resolve_persons(persons)
            mode = ONE
        indexer = BulkIndexer(
            self.engine,
            self.gallery,
            workers=self.bulk_workers,
            mode=mode,
            limits=self.limits,
            gate=self.gate,
            keep_crops=self.settings.gallery_store_crops,
        )
        report = indexer.run(paths, person_ids, None, on_progress, progress_bar)
        if persons is None:
            added = [face for ids in report.face_ids.values() for face in ids]
            assigned = self.assign_new_faces(added)
            if assigned is not None:
                report.clustering = assigned.as_dict()
        return report

    def _resolve_persons(self, persons: Sequence[str | int | None]) -> list[int | None]:
        by_name: dict[str, int] = {}
        out: list[int | None] = []
        for entry in persons:
            if entry is None:
                out.append(None)
            elif isinstance(entry, int):
                self.store.get_person(entry)
                out.append(entry)
            else:
                entry = check_name(entry)
                if entry not in by_name:
                    found = self.store.find_persons(entry)
                    by_name[entry] = found[0].id if found else self.store.create_person(entry).id
                out.append(by_name[entry])
        return out

    def index_directory(
        self,
        path: str | os.PathLike[str],
        recursive: bool = True,
        on_progress: Callable | None = None,
        *,
        person_from_folder: bool = False,
        progress_bar: bool = False,
        distributed: bool = False,
    ) -> BulkReport | JobRecord:
        """Index every image under ``path``; re-running skips files already indexed.
        ``person_from_folder``: each image's parent folder name is its person.
        ``distributed``: queue the work for the Celery workers and return the job
        (``index_distributed``)."""
        files = list_images(path, recursive)
        persons = [f.parent.name for f in files] if person_from_folder else None
        if distributed:
            return self.index_distributed(files, persons, source=str(path))
        return self.index_batch(files, on_progress, persons=persons, progress_bar=progress_bar)

    # -- persons ------------------------------------------------------------------
    def create_person(
        self,
        name: str,
        metadata: dict | None = None,
        *,
        consent_basis: str | None = None,
        enrolled_by: str | None = None,
    ) -> PersonInfo:
        """A person with no faces yet; ``consent_basis`` records on what basis they
        are enrolled, ``enrolled_by`` by whom (shown with the person)."""
        basis = check_consent(consent_basis, self.settings)
        return self.store.create_person(
            check_name(name), check_metadata(metadata), basis, enrolled_by
        )

    def get_person(self, person_id: int) -> PersonInfo:
        """One person (``PersonNotFoundError`` if there is none)."""
        return self.store.get_person(person_id)

    def exemplars(self, person_id: int) -> list[Exemplar]:
        """The faces users confirmed as this person (part of its template)."""
        return self.templates.list(self.store.get_person(person_id).id)

    def forget_exemplar(self, person_id: int, exemplar_id: int) -> None:
        """Undo a confirmation: the face leaves the person's template."""
        self.templates.remove(self.store.get_person(person_id).id, exemplar_id)

    def list_persons(
        self, offset: int = 0, limit: int = 100, origin: str | None = None
    ) -> tuple[list[PersonInfo], int]:
        """Persons by id; ``origin``: only "enrolled" ones or only "auto" (clusters)."""
        return self.store.list_persons(offset, limit, origin)

    def face_crop(self, face_id: int) -> bytes:
        """A gallery face's stored aligned crop (JPEG); ``CROP_NOT_STORED`` if none."""
        return self.store.face_crop(face_id)

    @follows_model
    def enroll(
        self,
        name: str | None,
        images: Sequence[ImageSource],
        metadata: dict | None = None,
        person_id: int | None = None,
        *,
        allow_mismatch: bool = False,
        consent_basis: str | None = None,
        enrolled_by: str | None = None,
        face_checks: bool | None = None,
        face_policy: str = "strict",
        new: bool = False,
        labels: Sequence[str] | None = None,
    ) -> EnrolmentResult:
        """Enrol photos for a person: ``person_id``, else the person named ``name``
        (names are unique; ``new``: PERSON_EXISTS instead), else a new one
        (``labels``: what to call the photos, e.g. uploaded file names). A photo
        is rejected,
        with a reason, when it is unreadable, shows no face or several, fails the
        face checks (``FACE_REJECTED`` with the check's reason, unless
        ``face_checks=False``; default ``settings.enrol_face_checks``; with
        ``face_policy="largest"`` the largest face of a photo is used), repeats a
        photo already enrolled or sent, or (unless ``allow_mismatch``, for a person
        who changed a lot) does not match the person above the 1:1 threshold. The
        others are stored and the person's centroid is updated. When no photo is
        accepted nothing is stored (a new person is not created) and
        ``NoPhotoAcceptedError`` carries the reasons."""
        if person_id is None and name is not None:  # names are unique: add to theirs
            found = self.store.find_persons(check_name(name))
            if found and new:
                raise PersonExistsError(
                    f"Person {found[0].id} is already named {name!r}.", person_id=found[0].id
                )
            person_id = found[0].id if found else None
        if person_id is None:
            name, metadata = check_name(name), check_metadata(metadata)
            consent_basis = check_consent(consent_basis, self.settings)
            template = None
        else:
            person = self.store.get_person(person_id)
            # a person whose faces all failed the checks still has a likeness to
            # match against: never "no template, anything goes"
            template = self.templates.centroid(
                person.id, self.store.centroid(person.id), person.face_count
            )
            if template is None and person.face_count:
                template = self.store.centroid(person.id, usable_only=False)
        if face_checks is None:
            face_checks = self.settings.enrol_face_checks
        plan = enrolment.Plan(self.threshold, template, allow_mismatch)
        mode = enrolment.face_mode(face_policy)
        for index, source in enumerate(images):
            label = labels[index] if labels else f"image {index}"
            label = str(source) if isinstance(source, (str, Path)) else label
            try:
                item, faces, checks = self._embed_one(source, mode, bulk=False)
            except LikenessError as error:
                plan.reject(index, label, error.code, error.message)
                continue
            if face_checks and not checks[0].is_valid:
                error = enrolment.face_rejected(checks[0])
                plan.reject(index, label, error.code, error.message, error.reason, error.check)
                continue
            faces[0].usable = True  # checked, or forced in by the caller
            if person_id is not None and self.store.face_ids_of_hash(item.content_hash, person_id):
                plan.reject(index, label, "DUPLICATE_IMAGE", "This photo is already enrolled.")
                continue
            plan.offer(index, label, item, faces)
        candidates = plan.decide()
        rejected = [
            Rejection(r.source, r.code, r.message, r.reason, r.check, index=r.index)
            for r in plan.rejected
        ]
        if not candidates:
            first = rejected[0].message if rejected else "no photo was sent"
            raise NoPhotoAcceptedError(
                f"No photo was enrolled; first reason: {first}", rejected=rejected
            )
        new_images = [
            NewImage(
                content_hash=c.item.content_hash,
                width=c.item.width,
                height=c.item.height,
                faces=c.faces,
                image_id=f"p{person_id}-{c.item.content_hash[:40]}" if person_id else None,
                source=c.label,
                person_id=person_id,
                model_version=self.engine.version,
            )
            for c in candidates
        ]
        if person_id is None:  # the person and its photos in one transaction
            per_image = self.gallery.add_images(
                new_images, new_person=(name, metadata, consent_basis, enrolled_by)
            )
            person_id = new_images[0].person_id
        else:
            per_image = self.gallery.add_images(new_images)
        result = EnrolmentResult(self.store.get_person(person_id), rejected=rejected)
        for candidate, new, ids in zip(candidates, new_images, per_image, strict=True):
            result.accepted.append(
                {
                    "index": candidate.index,
                    "source": candidate.label,
                    "image_id": new.image_id,
                    "face_id": ids[0],
                }
            )
        result.accepted.sort(key=lambda a: a["index"])
        return result

    # -- search -------------------------------------------------------------------
    @follows_model
    def search(
        self, image: ImageSource, top_k: int = 5, threshold: float | None = None
    ) -> SearchResult:
        """Who is this? The face chosen by the face policy against the gallery."""
        embedded = embed_source(self.engine, image, limits=self.limits)
        result = self.search_embedding(embedded.embedding, top_k, threshold)
        result.face = embedded.face.as_dict()
        result.timings_ms = {**embedded.timings_ms, **result.timings_ms}
        return result

    @follows_model
    def search_photo(
        self,
        image: ImageSource,
        top_k: int = 5,
        threshold: float | None = None,
        every_face: bool = False,
    ) -> SearchReport:
        """``search``, kept for voting under ``search_id``; ``every_face``: one result
        list per face of a group photo."""
        records = SearchRecords(self.database, self.store.model_pack, self.store.model_version)
        run = (self.engine, self.search_embedding, records, image, top_k, threshold, every_face)
        return search_photo(*run, self.limits, self.gate)

    @follows_model
    def vote_on_search(
        self,
        search_id: str,
        vote: str,
        face: int = 0,
        person_id: int | None = None,
        face_id: int | None = None,
        created_by: str | None = None,
    ) -> SearchVote:
        """Thumbs up/down on a ``search_photo`` result; a match teaches the template."""
        done = SearchRecords(self.database).vote(search_id, vote, face, person_id, face_id)
        if self.settings.template_learning:
            record, limit = done.record, self.search_threshold  # only matches are learned
            done.exemplar_id = self.templates.follow_vote(record, limit, created_by)
        return done

    @follows_model
    def search_embedding(
        self, vector: np.ndarray, top_k: int = 5, threshold: float | None = None
    ) -> SearchResult:
        """Who is this embedding? Persons ranked by best face or confirmed face."""
        threshold = self.search_threshold if threshold is None else float(threshold)
        return search_vector(self.gallery, self.templates, vector, top_k, threshold)

    # -- jobs ---------------------------------------------------------------------
    def job(self, job_id: str) -> JobRecord:
        """A job's state, progress and result (``JobNotFoundError`` if unknown)."""
        return self.jobs.get(job_id)

    def list_jobs(self, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
        """Recent jobs, newest first."""
        return self.jobs.list(kind, limit)

    # -- lifecycle ----------------------------------------------------------------
    def save(self) -> None:
        """Write the index file now (after catching up with the database)."""
        self.gallery.save()

    def load(self) -> dict:
        """Reload the saved index (IndexNotFoundError if none) and reconcile it with
        the database; returns what had to be patched."""
        return self.gallery.load()

    def rebuild(self) -> None:
        """Build the search index afresh from the database."""
        self.gallery.rebuild()

    def clear(self) -> None:
        """Remove every person, image and embedding."""
        self.gallery.clear()

    def remove(
        self,
        target: str | int | None = None,
        *,
        image_id: str | None = None,
        person_id: int | None = None,
    ) -> RemovalReport:
        """Erase an image (by image id) or a person (by person id) and everything
        derived from it, from the database and the index. A positional ``target``
        is tried as an image id first, then as a person id."""
        if image_id is None and person_id is None:
            if target is None:
                raise ValidationError("Give an image id or a person id.")
            try:
                change = self.gallery.remove_image(str(target))
            except ImageNotFoundError:
                try:
                    pid = int(target)
                except (TypeError, ValueError):
                    raise NotFoundError(f"No image or person {target!r}.") from None
                try:
                    change = self.gallery.remove_person(pid)
                except PersonNotFoundError:
                    raise NotFoundError(f"No image or person {target!r}.") from None
        elif image_id is not None:
            change = self.gallery.remove_image(image_id)
        else:
            change = self.gallery.remove_person(int(person_id))
        return RemovalReport(len(change.removed_ids), change.image_ids, change.person_ids)

    def stats(self) -> dict:
        """Counts of persons, images and faces, and the index's kind and size."""
        return self.gallery.stats()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background index rebuild; True when none is running."""
        return self.gallery.wait(timeout)

    def close(self) -> None:
        """Let a running index rebuild finish (and save), then release the database."""
        self.gallery.wait()
        if self._runner is not None:
            self._runner.shutdown()
        if self._own_database:
            self.database.dispose()

    def __enter__(self) -> FaceRecognitionLibrary:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["EnrolmentResult", "FaceRecognitionLibrary", "Failure", "SearchResult"]
