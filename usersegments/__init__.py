"""User segments of a recommender system, found and explained from what users do and write."""
