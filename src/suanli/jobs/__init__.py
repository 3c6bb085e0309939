"""Jobs: clusters behind data centers' products, jobs placed on them by the scheduler, billed through trading."""
