"""Model packs: which ONNX files a pack holds, their official SHA-256, and checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from likeness.errors import ModelFilesMissingError, ModelIntegrityError


@dataclass(frozen=True)
class ModelFile:
    name: str
    task: str  # "detection" | "recognition"
    sha256: str


@dataclass(frozen=True)
class PackSpec:
    name: str
    detector: ModelFile
    recognizer: ModelFile

    @property
    def files(self) -> tuple[ModelFile, ...]:
        return (self.detector, self.recognizer)


#: Official InsightFace release files (only detection + recognition are loaded).
PACKS: dict[str, PackSpec] = {
    "buffalo_l": PackSpec(
        "buffalo_l",
        ModelFile(
            "det_10g.onnx",
            "detection",
            "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91",
        ),
        ModelFile(
            "w600k_r50.onnx",
            "recognition",
            "4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        ),
    ),
    "buffalo_s": PackSpec(
        "buffalo_s",
        ModelFile(
            "det_500m.onnx",
            "detection",
            "5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
        ),
        ModelFile(
            "w600k_mbf.onnx",
            "recognition",
            "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        ),
    ),
}

#: Silent-Face passive anti-spoofing (minivision-ai, Apache-2.0), converted to ONNX:
#: a folder ``antispoof`` under the model root. (crop scale, file)
LIVENESS_FOLDER = "antispoof"
LIVENESS_FILES: tuple[tuple[float, ModelFile], ...] = (
    (
        2.7,
        ModelFile(
            "2.7_80x80_MiniFASNetV2.onnx",
            "liveness",
            "7886c41bcbcc1be00cf8700eddbd8cbd4b1ad138e69010790de2a57a3b01d7e5",
        ),
    ),
    (
        4.0,
        ModelFile(
            "4_0_0_80x80_MiniFASNetV1SE.onnx",
            "liveness",
            "e67aedf72df3e1912dbf6baa5f7406b8b30c3cb43234170a70dd9d143fea358e",
        ),
    ),
)

FETCH_HINT = (
    "Fetch them on a machine with internet access with `make models MODEL={pack}` "
    "(downloads through the insightface package into {root}), or copy the files there. "
    "InsightFace pretrained weights are for non-commercial research use only."
)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ResolvedFile:
    spec: ModelFile
    path: Path
    sha256: str
    verified: bool

    def as_dict(self) -> dict:
        return {
            "file": self.spec.name,
            "task": self.spec.task,
            "path": str(self.path),
            "sha256": self.sha256,
            "expected_sha256": self.spec.sha256,
            "verified": self.verified,
            "size_bytes": self.path.stat().st_size,
        }


def pack_spec(name: str) -> PackSpec:
    try:
        return PACKS[name]
    except KeyError:
        raise ModelFilesMissingError(
            f"Unknown model pack {name!r}; known packs: {', '.join(sorted(PACKS))}."
        ) from None


def resolve_pack(root: Path, name: str, verify: bool = True) -> tuple[ResolvedFile, ResolvedFile]:
    """Find a pack's detector and recogniser under ``root/name`` and check hashes.

    Fails with a message naming the folder, the expected files and their SHA-256,
    and how to fetch them.
    """
    spec = pack_spec(name)
    hint = FETCH_HINT.format(pack=name, root=Path(root).expanduser())
    first, second = _resolve(Path(root).expanduser() / name, spec.files, verify, name, hint)
    return first, second


def resolve_version(
    root: Path, pack: str, relative: str, sha256: str, verify: bool = True
) -> ResolvedFile:
    """A registered version of a pack's recogniser (``relative`` to the pack's
    folder): its hash must be the one the registry recorded (an unknown or altered
    file stops the service, as an altered official file does)."""
    spec = ModelFile(relative, "recognition", sha256)
    folder = Path(root).expanduser() / pack
    hint = "Registered model versions live there (`likeness models list`)."
    return _resolve(folder, (spec,), verify, f"registered {pack} version", hint)[0]


def resolve_liveness(root: Path, verify: bool = True) -> list[ResolvedFile]:
    """The anti-spoofing models under ``root/antispoof``, hashes checked."""
    files = tuple(f for _, f in LIVENESS_FILES)
    hint = (
        "Liveness is off without them: copy the Silent-Face MiniFASNet ONNX files "
        "(Apache-2.0) there."
    )
    return _resolve(Path(root).expanduser() / LIVENESS_FOLDER, files, verify, "antispoof", hint)


def _resolve(folder: Path, files, verify: bool, name: str, hint: str) -> list[ResolvedFile]:
    missing = [f for f in files if not (folder / f.name).is_file()]
    if missing:
        listing = "\n".join(f"  {f.name}  sha256 {f.sha256}" for f in files)
        raise ModelFilesMissingError(
            f"Model files {name!r} are incomplete in {folder}: missing "
            f"{', '.join(f.name for f in missing)}.\nExpected files:\n{listing}\n" + hint
        )
    resolved = []
    for f in files:
        path = folder / f.name
        digest = sha256_of(path)
        ok = digest == f.sha256
        if verify and not ok:
            raise ModelIntegrityError(
                f"{path} has SHA-256 {digest}, expected {f.sha256} ({name}). Replace the "
                "file, or set LIKENESS_VERIFY_MODEL_HASHES=false to run it anyway."
            )
        resolved.append(ResolvedFile(f, path, digest, ok))
    return resolved
