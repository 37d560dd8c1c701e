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
    """Every tunable of the service, the evaluation and the library. Each field is
    the environment variable ``LIKENESS_<NAME>`` (or ``<name>`` in the YAML file);
    its docstring is what the documentation site shows."""

    # An empty variable counts as unset (the default): a blank line in a Compose .env
    # must not switch a privacy period off.
    model_config = SettingsConfigDict(
        env_prefix="LIKENESS_", extra="ignore", use_attribute_docstrings=True,
        env_ignore_empty=True,
    )  # fmt: skip

    # Models
    model_root: Path = Field(default=Path("~/.insightface/models"))
    """Folder holding the model packs, one subfolder each (where insightface keeps them)."""
    model_pack: str = "buffalo_l"
    """The pack in use: ``buffalo_l`` or ``buffalo_s``."""
    verify_model_hashes: bool = True
    """Check every model file's SHA-256 at start-up; false for your own ONNX export."""
    providers: list[str] | None = None
    """ONNX Runtime providers, e.g. ``["CUDAExecutionProvider"]``; none: the best
    available (TensorRT, CUDA, CPU)."""
    intra_op_threads: int = 0
    """ONNX Runtime threads per process; 0: cores divided by workers."""
    ort_spinning: bool = False
    """Busy-waiting pool threads: faster alone, far slower on a shared machine."""
    # Detection
    det_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Detector score a face must reach."""
    nms_threshold: float = Field(default=0.4, gt=0, lt=1)
    """Overlap above which the detector keeps only the stronger of two boxes."""
    det_max_size: int = Field(default=640, ge=128)
    """Longest side the detector sees (larger images are scaled down for detection)."""
    det_min_size: int = Field(default=128, ge=64)
    """Smallest detector input side (smaller images are scaled up to it)."""
    # Recognition and decisions
    face_policy: FacePolicy = FacePolicy.LARGEST
    """Face used for 1:1 work: the largest, the most central, or reject photos of
    several faces (``MULTIPLE_FACES``)."""
    flip_tta: bool = False
    """Add the mirrored crop's embedding (slower, rarely better)."""
    # Face checks (likeness.quality; README "Face checks"): thresholds calibrated by
    # python -m likeness_eval.facechecks and likeness_eval.cartoon; each check can be
    # switched off. Liveness runs only when a request asks for it.
    check_face_size: bool = True
    """Face check: refuse faces below ``min_face_size`` (``too_small``)."""
    min_face_size: int = Field(default=16, ge=0)
    """Shorter side of the face box, in pixels, below which a face is ``too_small``."""
    min_face_area_ratio: float = Field(default=0.0, ge=0, lt=1)
    """Also ``too_small`` below this share of the image (0: off; never in bulk indexing)."""
    check_quality: bool = True
    """Face check: refuse faces below ``min_quality`` (``low_quality``)."""
    min_quality: float = Field(default=0.8, ge=0, le=1)
    """Combined quality score (sharpness, pose, light, detector score) below which a
    face is ``low_quality``."""
    check_cartoon: bool = True
    """Face check: refuse drawings (``cartoon``)."""
    cartoon_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Probability of a drawing at or above which a face is ``cartoon``."""
    liveness_threshold: float = Field(default=0.5, gt=0, lt=1)
    """Averaged "live" probability below which a face is ``spoof`` (liveness runs
    only when a request asks)."""
    enrol_face_checks: bool = True
    """Enrolment refuses faces that fail a check (``FACE_REJECTED``)."""
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    """1:1 cosine thresholds per pack (the defaults, measured on LFW)."""
    match_threshold: float | None = None
    """1:1 threshold that overrides the pack's default and any stored set."""
    # Stored threshold sets (likeness.learning)
    threshold_refresh_seconds: float = Field(default=5.0, ge=0)
    """How soon each process takes a newly stored threshold set (no restart)."""
    # Model versions (likeness.registry)
    model_refresh_seconds: float = Field(default=2.0, ge=0)
    """How soon each process serves a newly activated model version (loaded beside
    the running one)."""
    # Input limits
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest image, in bytes."""
    max_image_pixels: int = Field(default=25_000_000, ge=1)
    """Decompression-bomb guard, checked before decoding (a 6000x4000 photo fits)."""
    max_jpeg_scans: int = Field(default=64, ge=1)
    """Progressive JPEG scans, counted before decoding (ordinary ones have about 10)."""
    max_large_decodes: int = Field(default=1, ge=1)
    """Images over 4 Mpx one process decodes at once (bounds peak memory)."""
    max_decode_seconds: float = Field(default=10.0, gt=0)
    """CPU seconds for decoding a JPEG of many scans over many pixels (in a child
    process, given up after this)."""
    min_image_side: int = Field(default=16, ge=1)
    """Smallest image side (``IMAGE_TOO_SMALL`` below)."""
    max_faces: int = Field(default=100, ge=1)
    """Most faces taken from one image."""
    # Server
    host: str = "127.0.0.1"
    """Address Gunicorn listens on (loopback only: no key needed unless
    ``auth_required``)."""
    port: int = 8000
    """Port Gunicorn listens on."""
    workers: int = Field(default=2, ge=1)
    """Gunicorn worker processes (each holds the models and the search index)."""
    threads: int = Field(default=4, ge=1)
    """Threads per worker: a slow client holds one thread, not the worker."""
    timeout: int = Field(default=60, ge=1)
    """Gunicorn's worker timeout: a worker process that stops answering its master this
    long is restarted (with threads, one long request does not count)."""
    read_timeout: float = Field(default=30, gt=0)
    """A client silent this long is dropped."""
    body_seconds: float = Field(default=120, gt=0)
    """A request body must arrive within this (``408 REQUEST_TIMEOUT``)."""
    cors_origins: list[str] = Field(default_factory=list)
    """Other origins allowed to call the API from a browser."""
    static_dir: Path | None = None
    """The built web app to serve at ``/`` (``make run`` sets it)."""
    # Access (README "Access")
    auth_required: bool = False
    """Keys even on a loopback-only server (a shared machine)."""
    anonymous_verify: bool = True
    """Detect, verify and filter without a key (rate-limited per address)."""
    bootstrap_admin_key: str | None = None
    """An admin key made at start, ``lk_<id>_<secret>`` (32 or more random characters)."""
    auth_failures_per_minute: int = Field(default=20, ge=1)
    """Refused keys allowed per address and minute."""
    trusted_hosts: list[str] = Field(default_factory=list)
    """Host names served, e.g. ``["faces.example.org"]``; empty: loopback names only."""
    trusted_proxies: int = Field(default=0, ge=0)
    """Proxies in front whose ``X-Forwarded-For`` gives the client's address."""
    rate_limits: bool = True
    """Rate-limit requests (per address without a key, per key with one)."""
    rate_limit_anonymous: str = "60 per minute"
    """Limit per address for callers without a key."""
    rate_limit_key: str = "1200 per minute"
    """Limit per key."""
    rate_limit_storage: str = "memory://"
    """Where limits are counted: per process, or ``redis://host:6379/1`` to share them
    across API replicas."""
    # Storage
    data_dir: Path = Field(default=Path("data"))
    """The SQLite database and each process's gallery index file."""
    database_url: str | None = None
    """SQLAlchemy URL, e.g. ``postgresql://user@host/db``; none: SQLite in ``data_dir``."""
    # Scale-out (README "Scale-out")
    broker_url: str | None = None
    """Redis for Celery workers, e.g. ``redis://host:6379/0``; none: jobs run in
    threads of the process that submits them."""
    broker_visibility_timeout: int = Field(default=3600, ge=1)
    """Seconds before a lost worker's task goes to another worker."""
    index_batch_size: int = Field(default=32, ge=1, le=1000)
    """Files per distributed indexing task."""
    gallery_index: bool = True
    """Hold a search index; false on Celery workers, which only write the gallery."""
    # Gallery (1:N search): exact search up to gallery_exact_max faces, HNSW beyond
    gallery_thresholds: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_GALLERY_THRESHOLDS)
    )
    """1:N thresholds per pack: below it a search answers "unknown"."""
    search_threshold: float | None = None
    """1:N threshold that overrides the pack's default and any stored set."""
    gallery_exact_max: int = Field(default=250_000, ge=0)
    """Exact search up to this many faces, HNSW beyond (built in the background)."""
    gallery_hnsw_m: int = Field(default=32, ge=4)
    """HNSW graph degree."""
    gallery_index_codes: Literal["float32", "float16"] = "float32"
    """How the HNSW index holds its vectors; ``float16``: about half the memory in
    every process, no recall lost (measured)."""
    gallery_hnsw_ef_construction: int = Field(default=80, ge=8)
    """HNSW build depth."""
    gallery_hnsw_ef_search: int = Field(default=128, ge=1)
    """HNSW search depth: higher is slower and closer to exact."""
    gallery_rebuild_deleted_fraction: float = Field(default=0.1, gt=0, le=1)
    """Rebuild the HNSW index once this share of it is erased faces."""
    gallery_background_rebuild: bool = True
    """Rebuild in a background thread; false: inside the write that needs it."""
    gallery_store_crops: bool = True
    """Keep each gallery face's aligned 112x112 crop (JPEG, ~4 KB) for thumbnails and
    re-embedding; erased with the face."""
    enrol_allow_mismatch: bool = False
    """Let every HTTP caller, not only admin keys, force a non-matching face into a
    person (``allow_mismatch``) or a face that fails the checks."""
    consent_bases: list[str] = Field(default_factory=list)
    """The only consent wordings an enrolment over HTTP may give; empty: free text."""
    # Clustering (likeness.clustering; README "Clustering")
    cluster_threshold: float = Field(default=0.40, gt=-1, lt=1)
    """Cosine similarity at which faces join one cluster."""
    cluster_k: int = Field(default=10, ge=1, le=100)
    """Neighbours per face in the clustering graph."""
    cluster_min_size: int = Field(default=2, ge=1)
    """Smaller clusters wait, unassigned, for more evidence."""
    cluster_incremental: bool = True
    """Once clustered, new faces join their people as they are indexed."""
    # Templates that learn (likeness.learning.templates)
    template_learning: bool = True
    """A thumbs up on a search result adds the searched face to the person's template."""
    template_exemplars_max: int = Field(default=20, ge=1)
    """Most faces learned that way per person."""
    # Feedback (votes)
    feedback_comment_max: int = Field(default=1000, ge=0)
    """Longest vote comment, in characters."""
    store_feedback_crops: bool = False
    """Keep the two aligned face crops of each verification for the voting window
    (``verification_embedding_hours``); a vote keeps its copy (training data)."""
    # Retention (likeness purge): none keeps forever (``none`` in the environment,
    # ``null`` in YAML)
    verification_embedding_hours: float | None = Field(default=24, ge=0)
    """Hours an unvoted verification or search keeps its embeddings."""
    verification_max_days: float | None = Field(default=30, ge=0)
    """Days a verification record is kept."""
    feedback_crops_max_days: float | None = Field(default=90, ge=0)
    """Days the face crops of a vote are kept."""
    feedback_max_days: float | None = Field(default=None, ge=0)
    """Days a vote (on a verification or a search result) is kept, with its two
    embeddings (none: kept, as calibration and training data). A search vote that
    taught a person's template goes with the person or the face it was on."""
    gallery_max_age_days: float | None = Field(default=None, ge=0)
    """Erase enrolled persons neither enrolled into nor recognised for this many days
    (none: off; clusters are not expired)."""
    # Logging
    log_level: str = "INFO"
    """Python logging level."""
    log_json: bool = True
    """One JSON line per request (never images or embeddings)."""

    @field_validator(
        "match_threshold",
        "search_threshold",
        "verification_embedding_hours",
        "verification_max_days",
        "feedback_crops_max_days",
        "feedback_max_days",
        "gallery_max_age_days",
        mode="before",
    )
    @classmethod
    def _none_from_text(cls, value: Any) -> Any:
        """``none`` or ``null`` turns an optional number off: the environment (and so
        Docker Compose) has no other way to say it."""
        if isinstance(value, str) and value.strip().lower() in ("none", "null"):
            return None
        return value

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
        if config_file and not Path(config_file).expanduser().is_file():
            from likeness.errors import ConfigError  # a file named but missing: say so

            where = Path(config_file).expanduser().resolve()
            raise ConfigError(f"LIKENESS_CONFIG names {where}, which is not a file")
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
        if not Path(config_path).expanduser().is_file():
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
