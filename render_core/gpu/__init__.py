"""GPU leasing: the shared pool in Redis and its monitor."""
