"""`Guest.*` metadata from a Teams activity (Chime's key names)."""

from __future__ import annotations

from typing import Any

from botbuilder.schema import Activity


def directory_tenant_id(activity: Activity) -> str | None:
    """The Microsoft Entra tenant of the chat: `channelData.tenant.id` (botbuilder-schema drops
    `conversation.tenantId`)."""
    channel_data = activity.channel_data
    if isinstance(channel_data, dict):
        tenant = channel_data.get("tenant")
        if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
            return str(tenant["id"])
    return None


def _timezone(activity: Activity) -> str | None:
    for entity in activity.entities or []:
        props = entity.additional_properties or {}
        if entity.type == "clientInfo" and isinstance(props.get("timezone"), str):
            return str(props["timezone"])
    return None


def guest_metadata(activity: Activity, *, is_new: bool) -> dict[str, Any]:
    """What the activity tells about the guest; absent facts are left out, not blanked."""
    sender = activity.from_property
    facts: dict[str, Any] = {
        "Guest.Id": sender.id if sender else None,
        "Guest.Name": sender.name if sender else None,
        "Guest.AadObjectId": sender.aad_object_id if sender else None,
        "Guest.ChannelId": activity.channel_id,
        "Guest.TenantId": directory_tenant_id(activity),
        "Guest.Locale": activity.locale,
        "Guest.Timezone": _timezone(activity),
        "Guest.IsNew": is_new,
    }
    return {key: value for key, value in facts.items() if value is not None}
