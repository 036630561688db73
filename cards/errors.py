"""The exceptions of the card package: one base class, and one class per thing that can go wrong."""

from __future__ import annotations


class CardError(Exception):
    """Base class of every error raised by `cards`."""


class TemplateError(CardError, ValueError):
    """A template that cannot be compiled: bad syntax, an unknown function, a wrong arity.

    The message names the template, the JSON path inside it and the expression, so an admin can
    find and fix it; `template`, `path` and `expression` hold the same parts for programs.
    """

    def __init__(self, message: str, *, template: str = "", path: str = "", expression: str = ""):
        self.template = template
        self.path = path
        self.expression = expression
        self.reason = message
        where = " ".join(part for part in (template, path) if part)
        shown = f" in ${{{expression}}}" if expression else ""
        super().__init__(f"{where}: {message}{shown}" if where else f"{message}{shown}")


class ExpressionError(CardError):
    """An expression that could not be evaluated for some data (a wrong type, a bad index, …).

    Raised and caught inside the renderer, which logs it and renders the binding as empty text;
    the message describes the problem without quoting data values, which may be private.
    """


class CardSchemaError(CardError):
    """The Adaptive Card JSON schema could not be found or loaded (a broken installation)."""
