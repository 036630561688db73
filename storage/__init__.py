"""Where Crossdesk keeps chats: one contract (`base.py`), one record codec (`records.py`), and
the backends SQLite (`sqlite.py`, the embedded default) and Cosmos DB (`cosmos.py`)."""
