"""wattlake.lake."""
