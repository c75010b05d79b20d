"""Database: tables (``models``), engine and migrations (``session``)."""
