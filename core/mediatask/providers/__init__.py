"""Providers: the hook specifications, the plugin manager that loads plugins from entry
points, the checks of a job against a provider's parameters, the status ladder, sandboxes of
emulators. Imports :mod:`mediatask.model`, :mod:`mediatask.http`, :mod:`mediatask.settings`,
:mod:`mediatask.emulator`.

Private: import what you need from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin); the modules here move without notice.
"""
