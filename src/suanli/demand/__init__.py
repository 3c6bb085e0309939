"""Unmet demand: what buyers wanted and the market could not give them (queued jobs that cannot be placed,
searches that found nothing; requests for quotes join as another source), and the procurement planner that
replays recent demand against a seller's proposed capacity."""
