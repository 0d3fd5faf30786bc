"""GPU providers: where leased GPU nodes come from (``comput3``, ``static``, ``local``)."""
