"""Stores: embedded MongoDB, the video ledger and node tree, object storage."""
