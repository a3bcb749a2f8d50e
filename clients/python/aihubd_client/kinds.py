"""``SourceModelType`` and ``JobType``: the members and values of ``qai_hub``'s enums."""

from __future__ import annotations

from enum import Enum

__all__ = ["JobType", "SourceModelType"]


class SourceModelType(Enum):
    """Model types as ``qai_hub.SourceModelType`` names them; values are the Hub's wire values."""

    UNRECOGNIZED_MODEL_TYPE = 0
    TORCHSCRIPT = 1
    MLMODEL = 2
    TFLITE = 4
    MLMODELC = 5
    ONNX = 6
    MLPACKAGE = 8
    TETRART = 9
    QNN_LIB_AARCH64_ANDROID = 10
    QNN_LIB_X86_64_LINUX = 14
    QNN_CONTEXT_BINARY = 11
    AIMET_ONNX = 12
    QNN_DLC = 15
    TORCH_EXPORTED_PROGRAM = 16

    @classmethod
    def _missing_(cls, value: object) -> SourceModelType:
        return cls.UNRECOGNIZED_MODEL_TYPE


class JobType(Enum):
    """Job types as ``qai_hub.JobType`` names them (only ``LINK`` jobs exist in aihubd)."""

    COMPILE = 3
    INFERENCE = 2
    PROFILE = 2  # noqa: PIE796 -- an alias of INFERENCE, as in qai_hub
    QUANTIZE = 4
    LINK = 5
    UNSPECIFIED = 0

    @classmethod
    def _missing_(cls, value: object) -> JobType:
        return cls.UNSPECIFIED

    @property
    def display_name(self) -> str:
        return self.name.lower()
