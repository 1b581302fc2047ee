"""Built-in agent tools, installed as ``vt_tui.tools``; each module is also the shape of a user plugin."""
