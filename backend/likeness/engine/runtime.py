"""ONNX Runtime sessions: provider choice and threading. The only place that
creates sessions."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

#: Preferred order; the first ones available on this machine are used.
PROVIDER_PRIORITY = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """Requested providers that exist here, else the best available; CPU always last."""
    available = set(ort.get_available_providers())
    wanted = requested or list(PROVIDER_PRIORITY)
    chosen = [p for p in wanted if p in available and p != "CPUExecutionProvider"]
    if requested and not chosen and "CPUExecutionProvider" not in requested:
        log.warning("none of the providers %s is available; using CPU", requested)
    return [*chosen, "CPUExecutionProvider"]


def create_session(
    path: Path, providers: list[str], threads: int, spinning: bool = True
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # SCRFD graphs declare 640x640 output shapes; other input sizes are valid but
    # make ORT warn on every run.
    options.log_severity_level = 3
    if not spinning:
        # Idle pool threads sleep instead of busy-waiting: better when several
        # workers or other processes share the cores, slightly slower alone.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)
