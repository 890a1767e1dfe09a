"""Domain records, ids and errors: plain data, no I/O."""
