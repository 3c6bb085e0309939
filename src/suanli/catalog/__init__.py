"""The compute catalog: chips, regions, data centers, products, search and the price index."""
