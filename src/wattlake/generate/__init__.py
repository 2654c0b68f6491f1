"""wattlake.generate: synthetic smart-meter data (readings, SCD2 users, fault labels)."""

from wattlake.generate.api import GenerationResult, generate

__all__ = ["GenerationResult", "generate"]
