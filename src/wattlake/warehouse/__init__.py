"""wattlake.warehouse."""
