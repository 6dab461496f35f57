"""The exception hierarchy of rt-saliency.

Every error the library raises on purpose derives from :class:`RtSaliencyError`, and each one
also subclasses the Python built-in that best describes it (``ValueError``, ``FileNotFoundError``,
``RuntimeError`` ...), so callers can catch either.  Errors split into two families:

* the caller's mistakes (bad input, bad configuration, missing file): :class:`UserError`;
* failures of the environment or of a component at run time (a backend that cannot load, an
  encoder that fails, a stage that dies): the rest.

Anything that is *not* an ``RtSaliencyError`` escaping the CLI is a bug in rt-saliency, and the
CLI prints its traceback; ``RtSaliencyError`` is reported as one line.
"""

from __future__ import annotations


class RtSaliencyError(Exception):
    """Base class of every error rt-saliency raises deliberately."""

    #: process exit status the CLI uses for this error family
    exit_code: int = 1


class UserError(RtSaliencyError):
    """The caller asked for something that cannot work (bad argument, input or file)."""

    exit_code = 2


class ConfigError(UserError, ValueError):
    """An option or a combination of options is invalid."""


class InputError(UserError, ValueError):
    """Input data (video, image, array, stream) is unreadable, malformed or of the wrong shape."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or device named by the caller does not exist."""


class DatasetError(InputError):
    """A data set on disk does not have the expected layout or is inconsistent."""


class WeightsError(UserError, ValueError):
    """A checkpoint or weights file is missing, unreadable, or does not fit the model."""


class GraphError(WeightsError):
    """An exported graph (ONNX file, TensorRT engine) is empty, corrupt or not one of ours."""


class BackendUnavailableError(RtSaliencyError, ImportError):
    """An inference backend (TensorRT, ONNX Runtime, CUDA ...) cannot be loaded here."""


class EngineMismatchError(UserError, RuntimeError):
    """A TensorRT engine was built for another TensorRT version, GPU or input shape."""


class SourceError(RtSaliencyError, IOError):
    """A video source failed while open (connection lost, device gone, decode error)."""


class OutputError(RtSaliencyError, OSError):
    """An output (file, folder, pipe) cannot be written: disk full, permission, device error.

    ``errno`` is the one of the first failure; earlier outputs at the same path are kept.
    """


class EncoderError(RtSaliencyError, RuntimeError):
    """The video encoder or muxer failed."""


class DrainTimeoutError(RtSaliencyError, TimeoutError):
    """After a stop signal the pipeline did not drain in time and was stopped at once (the
    outputs were finished with the maps made until then)."""

    exit_code = 130


class StoppedError(RtSaliencyError, InterruptedError):
    """A signal stopped a job made of several runs (rate matching) before it finished; the
    outputs that existed before were left as they were."""

    exit_code = 130


class PipelineError(RtSaliencyError, RuntimeError):
    """A streaming stage failed; the original exception is chained as ``__cause__``."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"stage '{stage}' failed: {message}")
        self.stage = stage
