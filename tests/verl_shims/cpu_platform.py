"""A CPU platform for veRL's platform registry (select with VERL_PLATFORM=cpu).

Ray still schedules workers on one logical GPU (`ray.init(num_gpus=1)`): veRL's placement
groups ask for GPUs. Collectives use gloo; veRL's mixed backend string for a device called
`cpu` ("cpu:gloo,cpu:gloo") is reduced to plain "gloo".
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import torch
import torch.distributed as dist
from verl.plugin.platform import PlatformBase, PlatformRegistry


class _CPUDevice(ModuleType):
    """What veRL calls on `get_torch_device()`; unknown calls are harmless no-ops."""

    def __init__(self) -> None:
        super().__init__("azr_test_cpu_device")

    def __getattr__(self, name: str) -> Any:
        if hasattr(torch.cpu, name):
            return getattr(torch.cpu, name)
        return lambda *a, **k: 0

    def is_available(self) -> bool:
        return True

    def current_device(self) -> int:
        return 0

    def device_count(self) -> int:
        return 1

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def get_device_name(self, *a: Any) -> str:
        return "CPU"

    def mem_get_info(self, *a: Any) -> tuple[int, int]:
        return (8 << 30, 16 << 30)


DEVICE = _CPUDevice()


@PlatformRegistry.register(platform="cpu")
class PlatformCPU(PlatformBase):
    """veRL platform for a CPU-only test machine."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return DEVICE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return True

    def current_device(self) -> str:
        return "cpu"  # used as `model.to(device=...)`; an int would mean an accelerator

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[None, None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):  # type: ignore[override]
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


_init_pg = dist.init_process_group


def _init_process_group(*args: Any, **kwargs: Any) -> Any:
    backend = kwargs.get("backend")
    if isinstance(backend, str) and "gloo" in backend and "nccl" not in backend:
        kwargs["backend"] = "gloo"
    return _init_pg(*args, **kwargs)


if getattr(dist.init_process_group, "__name__", "") != "_init_process_group":
    dist.init_process_group = _init_process_group
