"""Tenants, pipelines, stages and the transfer: the domain, free of the SDK."""
