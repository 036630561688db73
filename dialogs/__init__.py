"""The pipeline runtime on botbuilder-dialogs: one dialog per tenant pipeline."""

from dialogs.pipeline_dialog import PipelineDialog, Turn, dialog_id

__all__ = ["PipelineDialog", "Turn", "dialog_id"]
