"""The user's MCP (Model Context Protocol) servers: their configuration, their lifecycle, their tools.

* :mod:`.config` reads ``[mcp_servers.NAME]`` tables and ``--mcp-config FILE`` (standard library only: the
  settings loader uses it);
* :mod:`.manager` starts the servers in the background, keeps a typed status per server and stops them all;
* :mod:`.tools` turns a server's tools into LangChain tools for the agent;
* :mod:`.guard` runs between vt-tui and a stdio server so that the server dies with vt-tui, SIGKILL included.

Nothing here imports the ``mcp`` SDK or LangChain at import time (the SDK alone takes about a second).
"""
