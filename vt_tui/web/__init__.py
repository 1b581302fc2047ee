"""``vt-tui web``: the full app served to browsers through textual-serve, for people who reach their GPU box with
``ssh -L`` and a browser instead of a terminal.

Every browser tab is its own ``vt-tui`` process (textual-serve starts one per websocket); they share the endpoint
(the embedded llama.cpp server is started once, here, and the tabs are pointed at it) and the conversation store.
:mod:`.guard` decides who may open it (a random token, compared in constant time, never logged), :mod:`.banner`
what the terminal is told (the URL, the ``ssh -L`` command, what a wider bind exposes), :mod:`.server` runs it.
"""
