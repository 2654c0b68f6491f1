"""wattlake.transforms."""
