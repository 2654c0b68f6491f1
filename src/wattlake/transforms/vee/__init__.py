"""wattlake.transforms.vee."""
