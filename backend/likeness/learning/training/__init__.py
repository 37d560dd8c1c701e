"""Fine-tuning the recogniser (issue 15): ONNX -> PyTorch, training on an export
folder (``likeness feedback export``), export back to ONNX with a parity check.

Needs the optional ``train`` extra (PyTorch, onnx2torch); serving never imports it.
"""

from likeness.learning.training.convert import export_onnx, input_scale, load_torch, to_input
from likeness.learning.training.data import TrainingSet, data_hash, load_export
from likeness.learning.training.trainer import TrainConfig, TrainResult, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingSet",
    "data_hash",
    "export_onnx",
    "input_scale",
    "load_export",
    "load_torch",
    "to_input",
    "train",
]
