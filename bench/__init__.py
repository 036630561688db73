"""The turn-cost benchmark: Crossdesk against the bare botbuilder SDK and the HTTP floor."""
