"""Adaptive Card templates and the renderer that binds them to session metadata (no SDK).

Templates are written in Microsoft's Adaptive Cards Designer and render here exactly as they
preview there, except for the deliberate differences listed in cards/README.md. Compile each
template once at start-up (`compile_template`, `cards.validate.check_template`), expand it per
message with the nested session data `nest()` builds from flat metadata.
"""

from cards.errors import CardError, CardSchemaError, ExpressionError, TemplateError
from cards.template import (
    CompiledTemplate,
    RenderIssue,
    compile_template,
    expand,
    expand_text,
    nest,
)

__all__ = [
    "CardError",
    "CardSchemaError",
    "CompiledTemplate",
    "ExpressionError",
    "RenderIssue",
    "TemplateError",
    "compile_template",
    "expand",
    "expand_text",
    "nest",
]
