"""vt-tui: a terminal assistant for local LLM endpoints, with a live GPU pane and tool panel."""

__version__ = "0.1.0"
