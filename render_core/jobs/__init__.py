"""The job lifecycle: statuses, the Redis job store, submit/finish, webhook payloads."""
