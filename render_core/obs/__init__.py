"""Observability: Prometheus metrics, their export, logging."""
