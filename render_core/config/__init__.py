"""Configuration: every environment variable the core reads, declared once."""
