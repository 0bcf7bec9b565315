"""Path of azr's agent-loop file for veRL (importable without veRL)."""

from pathlib import Path

AGENT_LOOP_CONFIG = str(Path(__file__).with_name("config") / "agent_loop.yaml")
