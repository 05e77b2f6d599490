"""Spreadsheet-safe CSV cells: every CSV the platform writes goes through ``neutralise``, every
CSV it reads back goes through ``restore``.

A spreadsheet evaluates a cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (``=HYPERLINK(...)``, ``=cmd|...`` DDE payloads), and cells hold
user and model text. Following the OWASP "CSV injection" advice, such a cell is written with a
leading ``'`` so the spreadsheet shows it as text.

The escape is reversible, so an export read back gives the exact original text. The rule:

* ``neutralise(text)`` adds one ``'`` in front of ``text`` when ``text`` is zero or more ``'``
  followed by a trigger character (``=1+1`` -> ``'=1+1``, ``'=1+1`` -> ``''=1+1``).
  Any other text is written as it is (``'tis``, ``it's``, ``''`` and ``{"a": "=1"}`` stay unchanged).
* ``restore(cell)`` removes one leading ``'`` when ``cell`` is one or more ``'`` followed by a
  trigger character (``'=1+1`` -> ``=1+1``, ``''=1+1`` -> ``'=1+1``); any other cell is read
  as it is (``'tis`` stays ``'tis``, ``=1+1`` written by hand stays ``=1+1``).

``restore(neutralise(text)) == text`` for every text, and no neutralised cell starts with a trigger.
"""

from __future__ import annotations

# Spreadsheet applications evaluate a cell whose text starts with one of these as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def _is_escapable(text: str) -> bool:
    """Zero or more ``'`` followed by a formula trigger."""
    return text.lstrip(ESCAPE).startswith(FORMULA_TRIGGERS)


def neutralise(text: str) -> str:
    """The cell to write for ``text``: never starts with a formula trigger; ``restore`` undoes it."""
    return ESCAPE + text if _is_escapable(text) else text


def restore(cell: str) -> str:
    """The text a cell written by ``neutralise`` stands for."""
    return cell[1:] if cell.startswith(ESCAPE) and _is_escapable(cell) else cell
