"""Trading: orders, inventory, wallets and the double-entry ledger in the database (see docs/trading.md)."""
