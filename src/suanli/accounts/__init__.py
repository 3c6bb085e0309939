"""Organizations, users, roles, login tokens and API keys."""
