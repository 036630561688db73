"""The Bot Framework SDK's edge: code that replaces or works around SDK internals.

Each module names the SDK behaviour it replaces; nothing else in Crossdesk reaches into the
SDK's private parts, so a port to its successor deletes this folder.
"""
