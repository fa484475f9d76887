"""Device profiles (TOML files shipped with fitnas) and their limits."""

from __future__ import annotations

from .registry import MEMORY_LIMITS, Device, DeviceError, list_devices, load_device, parse_device

__all__ = ["MEMORY_LIMITS", "Device", "DeviceError", "list_devices", "load_device", "parse_device"]
