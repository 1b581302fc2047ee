"""Screens: the chat (the main screen) and the dialogs shown over it, each with its own keys and styles."""
