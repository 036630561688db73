"""Adaptive Card templates and the renderer that binds them to session metadata (no SDK)."""

from cards.template import (
    CompiledTemplate,
    TemplateError,
    compile_template,
    expand,
    expand_text,
    nest,
)

__all__ = [
    "CompiledTemplate",
    "TemplateError",
    "compile_template",
    "expand",
    "expand_text",
    "nest",
]
