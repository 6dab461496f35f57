"""Torch runner: a ``nn.Module`` (usually an encoder/head graph wrapper) behind the runner API."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rt_saliency.errors import BackendUnavailableError
from rt_saliency.runtime.base import Runner
from rt_saliency.spec import TensorSpec


class TorchRunner(Runner):
    """Run ``module(*inputs)`` in eval mode under ``torch.inference_mode``.

    ``input_specs`` fixes the argument order and shapes; ``output_names`` names the module's
    returned tensor (or tuple of tensors), in order.  ``threads`` sets torch's intra-op thread
    count, which is process-wide: leave it ``None`` inside a larger program.
    """

    backend = "torch"

    def __init__(
        self,
        module: nn.Module,
        input_specs: dict[str, TensorSpec],
        output_names: Sequence[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        super().__init__()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailableError(f"torch runner on {device!r}: torch sees no CUDA device")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self._device = torch.device(device)
        self._module = module.to(self._device).eval()
        self._specs = dict(input_specs)
        self._outputs = tuple(output_names)

    def _infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(inputs[name]).to(self._device) for name in self._specs]
        with torch.inference_mode():
            result = self._module(*args)
        if isinstance(result, torch.Tensor):
            result = (result,)
        if len(result) != len(self._outputs):
            raise RuntimeError(
                f"module returned {len(result)} outputs, runner expects {list(self._outputs)}"
            )
        return {
            name: tensor.detach().float().cpu().numpy() for name, tensor in zip(self._outputs, result)
        }

    def _release(self) -> None:
        self._module = None  # type: ignore[assignment]
