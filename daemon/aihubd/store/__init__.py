"""Persistent state: SQLite (jobs, status history) behind small focused classes."""
