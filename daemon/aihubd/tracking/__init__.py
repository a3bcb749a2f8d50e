"""The one poller that asks the Hub about jobs, and the doorbell that wakes waiters."""
