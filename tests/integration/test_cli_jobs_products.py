"""`suanli jobs submit --product ID` pins a job to products; `suanli jobs show` says so. Against the demo in a fresh
SQLite home (its data centers run jobs as local processes)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import BUYER, demo_home, flat, invoke
from sqlalchemy import select

from suanli.catalog.models import Product
from suanli.core.billing import SystemClock
from suanli.db import default_database
from suanli.demo import DEMO_PASSWORD
from suanli.jobs.scheduler import run_round


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with demo_home(tmp_path_factory, "suanli-pinned-home") as (path, output):
        yield path


def test_submit_with_product_pins_the_job_and_show_prints_it(home):
    database = default_database()
    with database.unit_of_work(write=False) as session:
        # the dearest schedulable product with free units: never the one an unpinned job would take
        product = session.scalars(select(Product).where(Product.is_visible.is_(True), Product.cluster_id.is_not(None),
                                                        Product.accelerators > 0, Product.chip_key.is_not(None),
                                                        Product.stock_units > Product.allocated_units)
                                  .order_by(Product.price_on_demand_fen.desc(), Product.id)).first()
        assert product is not None
        product_id, chip = str(product.id), product.chip_key
    assert invoke("login", BUYER, "--password", DEMO_PASSWORD).exit_code == 0
    result = invoke("jobs", "submit", "pinned", "--command", "true", "--accelerators", "1", "--chip", chip,
                    "--product", product_id, "--product", product_id, "--max-runtime", "5", "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.output)
    assert job["constraints"]["products"] == [product_id]
    run_round(database, SystemClock())
    shown = json.loads(invoke("jobs", "show", job["id"], "--json").output)
    assert shown["placement"] is not None and shown["placement"]["product_id"] == product_id, shown
    assert f"runs only on product {product_id}" in flat(invoke("jobs", "show", job["id"]).output)
    bad = invoke("jobs", "submit", "nowhere", "--command", "true", "--accelerators", "1", "--product",
                 str(uuid.uuid4()))
    assert bad.exit_code == 1 and "product_not_found" in flat(bad.output) + flat(bad.stderr or ""), bad.output
