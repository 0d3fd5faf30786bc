"""Test helpers: local HTTP servers and polling."""
