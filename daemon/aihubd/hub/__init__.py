"""Everything that speaks HTTP to Qualcomm AI Hub (or its emulator)."""
