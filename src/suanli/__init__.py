"""suanli (算力): software for a public compute-power exchange and scheduling platform."""

__version__ = "0.1.0"
