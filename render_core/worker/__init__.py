"""The worker process: actors, runner, middleware and the module Dramatiq boots."""
