"""The procedure catalogue: the record schema, loading records into the database, search."""
