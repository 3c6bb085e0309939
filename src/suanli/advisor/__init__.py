"""The compute advisor: estimate a workload on a chip, and recommend configurations from the live catalog."""
