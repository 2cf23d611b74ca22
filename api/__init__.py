"""FastAPI app factory, routes, schemas and the ``blindsum`` CLI."""
