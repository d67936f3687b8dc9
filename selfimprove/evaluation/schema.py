"""The ``results.json`` schema: its version, typed shapes, and a validator with path-naming errors."""

from __future__ import annotations

SCHEMA_VERSION = 1
