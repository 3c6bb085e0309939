"""Interconnection (互联互通): platform identity and keys, peers, the signed federation API and catalog exchange.

Pure rules live in ``suanli.core.federation``; see docs/federation.md.
"""
