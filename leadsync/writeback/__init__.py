"""Draining the writeback outbox into each source system."""
