"""The audit trail: an append-only, hash-chained log of money movements, orders, role and admin actions.

``record`` (in ``suanli.audit.service``) is called by the services, in the transaction of the change it records.
"""

from suanli.audit.service import record, set_request_context

__all__ = ["record", "set_request_context"]
