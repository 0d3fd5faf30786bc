"""Outbound I/O: the guarded HTTP client and object storage."""
