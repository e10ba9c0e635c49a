"""Helpers the tests share that are not fixtures and do not belong in the library wheel.

Importable as ``support`` because the pytest configuration puts ``tests/`` on ``sys.path``
(``pythonpath`` in ``pyproject.toml``): ``from support.postgres import running_server``.
"""
