"""The notes service, laid out as real services are: the models, the typed dependencies its
handlers receive, and one router module per resource. `examples/main.py` composes it."""
