"""wattlake.sources."""
