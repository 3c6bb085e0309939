"""Pure domain code for suanli: no I/O, no framework dependencies."""
