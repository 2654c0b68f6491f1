"""wattlake.pipeline."""
