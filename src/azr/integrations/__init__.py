"""Bridges from azr's engine-agnostic core to external training engines (optional extras)."""
