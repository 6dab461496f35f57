"""The runner interface every inference backend implements (Polygraphy style).

A runner owns one compiled graph (a torch module, an ONNX Runtime session, a TensorRT engine).
It is a context manager; ``infer`` maps named float arrays to named float arrays.  Inputs are
checked against :attr:`Runner.input_specs` before they reach the backend, so a wrong name, shape
or dtype is the caller's :class:`~rt_saliency.errors.InputError`, not a backend crash.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import TracebackType

import numpy as np

from rt_saliency.errors import InputError
from rt_saliency.spec import TensorSpec


class Runner(abc.ABC):
    """One graph behind one backend: ``with runner: outputs = runner.infer(inputs)``."""

    #: backend name ("torch", "onnxruntime", "tensorrt")
    backend: str = "?"

    def __init__(self) -> None:
        self._closed = False
        # filled by each backend's constructor
        self._specs: dict[str, TensorSpec] = {}
        self._outputs: tuple[str, ...] = ()

    @property
    def input_specs(self) -> dict[str, TensorSpec]:
        """The graph's inputs by name, in graph order."""
        return self._specs

    @property
    def output_names(self) -> tuple[str, ...]:
        """The graph's outputs, in graph order."""
        return self._outputs

    @abc.abstractmethod
    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the backend on already-checked, contiguous inputs."""

    def _release(self) -> None:  # noqa: B027 - optional hook
        """Free backend resources (sessions, device buffers)."""

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on ``inputs`` (name -> array) and return every output by name."""
        if self._closed:
            raise RuntimeError(f"{self.backend} runner used after close()")
        return self._infer(self.check_inputs(inputs))

    def check_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate names, shapes and dtypes; return contiguous arrays of the graph's dtypes.

        Raises :class:`InputError` for a missing or unknown name or a wrong shape.  Float arrays
        of another float dtype are cast; anything else of the wrong dtype is refused.
        """
        specs = self.input_specs
        missing = [n for n in specs if n not in inputs]
        unknown = [n for n in inputs if n not in specs]
        if missing or unknown:
            raise InputError(
                f"{self.backend} runner: inputs must be named {list(specs)}; "
                f"missing {missing}, unknown {unknown}"
            )
        checked: dict[str, np.ndarray] = {}
        for name, spec in specs.items():
            array = np.asarray(inputs[name])
            if tuple(array.shape) != spec.shape:
                raise InputError(
                    f"{self.backend} runner: input '{name}' has shape {tuple(array.shape)}, "
                    f"the graph takes {spec.shape}"
                )
            if array.dtype != spec.dtype:
                if not (np.issubdtype(array.dtype, np.floating) and np.issubdtype(spec.dtype, np.floating)):
                    raise InputError(
                        f"{self.backend} runner: input '{name}' has dtype {array.dtype}, "
                        f"the graph takes {np.dtype(spec.dtype).name}"
                    )
                array = array.astype(spec.dtype)
            checked[name] = np.ascontiguousarray(array)
        return checked

    def close(self) -> None:
        """Release the backend; idempotent."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self) -> Runner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} inputs={list(self.input_specs)} outputs={list(self.output_names)}>"
