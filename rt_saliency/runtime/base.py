"""The runner interface every inference backend implements (Polygraphy style).

A runner owns one compiled graph (a torch module, an ONNX Runtime session, a TensorRT engine).
It is a context manager; ``infer`` maps named float arrays to named float arrays.  Inputs are
checked against :attr:`Runner.input_specs` before they reach the backend, so a wrong name, shape
or dtype is the caller's :class:`~rt_saliency.errors.InputError`, not a backend crash.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from rt_saliency.errors import InputError


@dataclass(frozen=True)
class TensorSpec:
    """Name, static shape and dtype of one graph input."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TensorSpec:
        shape = data["shape"]
        assert isinstance(shape, Sequence)
        return cls(str(data["name"]), tuple(int(s) for s in shape), np.dtype(str(data["dtype"])))


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


@dataclass(frozen=True)
class OutputDiff:
    """How far one output of two runners is apart."""

    max_abs: float
    max_rel: float
    mean_abs: float

    def to_dict(self) -> dict[str, float]:
        return {"max_abs": self.max_abs, "max_rel": self.max_rel, "mean_abs": self.mean_abs}


def compare_outputs(
    a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], *, rel_floor: float = 1e-6
) -> dict[str, OutputDiff]:
    """Max abs / max rel / mean abs difference per output name of two ``infer`` results.

    The relative difference divides by ``max(|b|, rel_floor)``, so ``b`` is the reference.
    Raises :class:`InputError` if the two results have different names or shapes.
    """
    if set(a) != set(b):
        raise InputError(f"outputs differ in names: {sorted(a)} vs {sorted(b)}")
    diffs: dict[str, OutputDiff] = {}
    for name in a:
        x = np.asarray(a[name], dtype=np.float64)
        y = np.asarray(b[name], dtype=np.float64)
        if x.shape != y.shape:
            raise InputError(f"output '{name}' differs in shape: {x.shape} vs {y.shape}")
        err = np.abs(x - y)
        rel = err / np.maximum(np.abs(y), rel_floor)
        diffs[name] = OutputDiff(
            max_abs=float(err.max(initial=0.0)),
            max_rel=float(rel.max(initial=0.0)),
            mean_abs=float(err.mean()) if err.size else 0.0,
        )
    return diffs
