"""The ``suanli`` command line: Typer commands, Rich tables and progress bars."""

from suanli.cli.main import app
from suanli.cli import trading as _trading  # noqa: E402,F401  (registers the trading commands)
from suanli.cli import jobs as _jobs  # noqa: E402,F401  (registers the jobs and clusters commands)
from suanli.cli import advisor as _advisor  # noqa: E402,F401  (registers estimate and advise)
from suanli.cli import instances as _instances  # noqa: E402,F401  (registers keys, images, instances and ssh)
from suanli.cli import audit as _audit  # noqa: E402,F401  (registers audit verify and list)
from suanli.cli import federation as _federation  # noqa: E402,F401  (registers the federation commands)
from suanli.cli import rfq as _rfq  # noqa: E402,F401  (registers requests for quotes and contracts)
from suanli.cli import demand as _demand  # noqa: E402,F401  (registers demand, guidance, price-history and price-snapshot)
from suanli.cli import emergency as _emergency  # noqa: E402,F401  (registers the emergency compute commands)

__all__ = ["app"]
