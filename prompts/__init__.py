"""Shipped personas (Markdown with front matter), installed as ``vt_tui.prompts``."""
