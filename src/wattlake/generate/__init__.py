"""wattlake.generate."""
