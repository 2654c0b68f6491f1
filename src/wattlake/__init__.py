"""wattlake: smart-meter and energy data platform (Delta lakehouse + star-schema warehouse)."""

__version__ = "0.1.0"
