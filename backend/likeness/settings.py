"""One typed settings object, read from ``LIKENESS_*`` environment variables and an
optional YAML file (``LIKENESS_CONFIG``); environment wins over the file."""

from __future__ import annotations

import os
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class FacePolicy(str, Enum):
    """Which face to use for 1:1 work when an image holds several."""

    LARGEST = "largest"
    CENTRAL = "central"
    REJECT = "reject"


#: Cosine-similarity decision thresholds per model pack. Calibrated on LFW View 2
#: (see README "Accuracy"); override with ``LIKENESS_MATCH_THRESHOLD``.
DEFAULT_THRESHOLDS: dict[str, float] = {"buffalo_l": 0.28, "buffalo_s": 0.28}

#: 1:N thresholds (gallery search) per model pack. Higher than 1:1: a stranger is
#: compared with every enrolled person and only the best score counts, so the 1:1
#: threshold lets far more strangers through (14% at 0.28 with 1,559 people
#: enrolled). buffalo_s: the lowest threshold with under 1% of LFW strangers
#: matched (bench_identification.py; README "Gallery"); buffalo_l is not calibrated
#: here. Override with ``LIKENESS_SEARCH_THRESHOLD``.
DEFAULT_GALLERY_THRESHOLDS: dict[str, float] = {"buffalo_l": 0.36, "buffalo_s": 0.36}


class Settings(BaseSettings):
    """Every tunable of the service, the evaluation and the library."""

    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    # Models
    model_root: Path = Field(default=Path("~/.insightface/models"))
    model_pack: str = "buffalo_l"
    verify_model_hashes: bool = True
    providers: list[str] | None = None  # None: best available (TensorRT, CUDA, CPU)
    intra_op_threads: int = 0  # 0: cores divided by workers
    ort_spinning: bool = False  # busy-waiting pool threads: faster alone, far slower shared
    # Detection
    det_threshold: float = Field(default=0.5, gt=0, lt=1)
    nms_threshold: float = Field(default=0.4, gt=0, lt=1)
    det_max_size: int = Field(default=640, ge=128)
    det_min_size: int = Field(default=128, ge=64)
    # Recognition and decisions
    face_policy: FacePolicy = FacePolicy.LARGEST
    flip_tta: bool = False
    # Face checks (likeness.quality; README "Face checks"): thresholds calibrated by
    # python -m likeness_eval.facechecks and likeness_eval.cartoon; each check can be
    # switched off. Liveness runs only when a request asks for it.
    check_face_size: bool = True
    min_face_size: int = Field(default=16, ge=0)  # shorter side of the face box, pixels
    min_face_area_ratio: float = Field(default=0.0, ge=0, lt=1)  # never applied in bulk
    check_quality: bool = True
    min_quality: float = Field(default=0.8, ge=0, le=1)  # combined quality score
    check_cartoon: bool = True
    cartoon_threshold: float = Field(default=0.5, gt=0, lt=1)  # probability of a drawing
    liveness_threshold: float = Field(default=0.5, gt=0, lt=1)  # averaged "live" probability
    enrol_face_checks: bool = True  # enrolment refuses faces that fail (callers may opt out)
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    match_threshold: float | None = None  # overrides the per-pack threshold
    # Stored threshold sets (likeness.learning): each process re-reads the newest
    # set of its model version at most this often (adoption needs no restart)
    threshold_refresh_seconds: float = Field(default=5.0, ge=0)
    # Model versions (likeness.registry): each process re-reads the active version
    # this often and loads a newly activated one beside the running one
    model_refresh_seconds: float = Field(default=2.0, ge=0)
    # Input limits
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=25_000_000, ge=1)  # 6000x4000 (24 Mpx) fits
    max_jpeg_scans: int = Field(default=64, ge=1)  # progressive JPEGs have about 10
    max_large_decodes: int = Field(default=1, ge=1)  # per process, images > 4 Mpx
    max_decode_seconds: float = Field(default=10.0, gt=0)  # JPEGs of several scans
    min_image_side: int = Field(default=16, ge=1)
    max_faces: int = Field(default=100, ge=1)
    # Server
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=2, ge=1)
    # Threads per worker (gthread): a slow client holds one thread, not the worker.
    threads: int = Field(default=4, ge=1)
    timeout: int = Field(default=60, ge=1)
    read_timeout: float = Field(default=30, gt=0)  # a client silent this long is dropped
    body_seconds: float = Field(default=120, gt=0)  # the whole request body, at most
    cors_origins: list[str] = Field(default_factory=list)
    static_dir: Path | None = None  # built SPA to serve at / (make run)
    # Access (README "Access"): keys are needed unless the server listens only on
    # loopback and auth_required is off; detect/verify may stay anonymous.
    auth_required: bool = False
    anonymous_verify: bool = True
    bootstrap_admin_key: str | None = None  # an admin key made at start (lk_<id>_<secret>)
    auth_failures_per_minute: int = Field(default=20, ge=1)  # refused keys per address
    trusted_hosts: list[str] = Field(default_factory=list)  # empty: loopback names only
    trusted_proxies: int = Field(default=0, ge=0)  # proxies in front (X-Forwarded-For)
    rate_limits: bool = True
    rate_limit_anonymous: str = "60 per minute"  # per address, callers without a key
    rate_limit_key: str = "1200 per minute"  # per key
    rate_limit_storage: str = "memory://"  # per process; redis://host:6379 to share
    # Storage
    data_dir: Path = Field(default=Path("data"))
    database_url: str | None = None  # default: SQLite file in data_dir
    # Scale-out (README "Scale-out"): with a broker, jobs run on Celery workers
    # (likeness worker); without one, in threads of the submitting process
    broker_url: str | None = None  # e.g. redis://127.0.0.1:6379/0
    broker_visibility_timeout: int = Field(default=3600, ge=1)  # s before redelivery
    index_batch_size: int = Field(default=32, ge=1, le=1000)  # files per indexing task
    # false (Celery workers): this process only writes the gallery, holding no search
    # index in memory or on disk (nothing to build at start, no erased face to keep)
    gallery_index: bool = True
    # Gallery (1:N search): exact search up to gallery_exact_max faces, HNSW beyond
    # (chosen by measurement: bench_gallery.py, README "Gallery search speed")
    gallery_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_GALLERY_THRESHOLDS)
    )
    search_threshold: float | None = None  # overrides the per-pack 1:N threshold
    gallery_exact_max: int = Field(default=250_000, ge=0)  # exact p50 ~18 ms here
    gallery_hnsw_m: int = Field(default=32, ge=4)
    # How the HNSW index holds its vectors: float32, or float16 (half the memory per
    # worker; README "Scale-out" has the recall and memory measured)
    gallery_index_codes: Literal["float32", "float16"] = "float32"
    gallery_hnsw_ef_construction: int = Field(default=80, ge=8)
    gallery_hnsw_ef_search: int = Field(default=128, ge=1)  # recall@10 0.99 at 1M
    gallery_rebuild_deleted_fraction: float = Field(default=0.1, gt=0, le=1)
    gallery_background_rebuild: bool = True  # False: rebuild inside the write that needs it
    # Keep each gallery face's aligned 112x112 crop (JPEG, ~4 KB) for thumbnails and
    # re-embedding; erased with the face. Off: thumbnails answer CROP_NOT_STORED.
    gallery_store_crops: bool = True
    # Enrolment over HTTP may force faces that do not match the person (allow_mismatch)
    # only when this is on: until API keys with an admin scope exist, anyone could.
    enrol_allow_mismatch: bool = False
    # Consent: enrolment over HTTP must say on what basis (recorded with the person);
    # consent_bases lists the allowed wordings (empty: free text).
    consent_bases: list[str] = Field(default_factory=list)
    # Clustering (likeness.clustering; README "Clustering"): constrained threshold
    # components on the k-nearest-neighbour graph, chosen by likeness_eval.clustering
    cluster_threshold: float = Field(default=0.40, gt=-1, lt=1)  # cosine to join faces
    cluster_k: int = Field(default=10, ge=1, le=100)  # neighbours per face in the graph
    cluster_min_size: int = Field(default=2, ge=1)  # smaller clusters wait, unassigned
    cluster_incremental: bool = True  # once clustered, new faces join as they are indexed
    # Templates that learn (likeness.learning.templates): a thumbs up on a search
    # result adds the searched face to the person's template, at most this many
    template_learning: bool = True
    template_exemplars_max: int = Field(default=20, ge=1)
    # Feedback (votes on verifications)
    feedback_comment_max: int = Field(default=1000, ge=0)  # characters
    store_feedback_crops: bool = False  # keep the two aligned 112x112 face crops (JPEG)
    # Retention (likeness purge): None keeps forever
    verification_embedding_hours: float | None = Field(default=24, ge=0)  # unvoted ones
    verification_max_days: float | None = Field(default=30, ge=0)
    feedback_crops_max_days: float | None = Field(default=90, ge=0)
    gallery_max_age_days: float | None = Field(default=None, ge=0)  # persons not seen since
    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("model_root", "data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def pack_dir(self) -> Path:
        return self.model_root / self.model_pack

    @property
    def threshold(self) -> float:
        if self.match_threshold is not None:
            return self.match_threshold
        return self.thresholds.get(self.model_pack, DEFAULT_THRESHOLDS["buffalo_l"])

    @property
    def gallery_threshold(self) -> float:
        """The 1:N decision threshold: is the best match someone, or unknown?"""
        if self.search_threshold is not None:
            return self.search_threshold
        return self.gallery_thresholds.get(self.model_pack, DEFAULT_GALLERY_THRESHOLDS["buffalo_l"])

    @property
    def session_threads(self) -> int:
        if self.intra_op_threads > 0:
            return self.intra_op_threads
        return max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'likeness.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("LIKENESS_CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_settings(config_path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, a YAML file (argument or ``LIKENESS_CONFIG``)
    and explicit keyword overrides (highest priority)."""
    if config_path is None:
        return Settings(**overrides)
    previous = os.environ.get("LIKENESS_CONFIG")
    os.environ["LIKENESS_CONFIG"] = str(config_path)
    try:
        if not Path(config_path).is_file():
            from likeness.errors import ConfigError

            raise ConfigError(f"config file not found: {config_path}")
        return Settings(**overrides)
    finally:
        if previous is None:
            os.environ.pop("LIKENESS_CONFIG", None)
        else:
            os.environ["LIKENESS_CONFIG"] = previous


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
