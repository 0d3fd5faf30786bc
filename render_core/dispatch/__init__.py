"""Messages between the API and the workers: the Dramatiq Redis broker and message builders."""
