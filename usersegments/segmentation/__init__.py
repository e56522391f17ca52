"""User segmentation with Spark MLlib: the package behind spark_jobs/segment_users.py
and spark_jobs/segment_evaluation_users.py.

    options      what a run is asked for: algorithm, k, weights, seeds (no Spark)
    graph        co-review graph features of each user (Spark)
    features     the per-user table and the fusion of its feature groups (Spark)
    clustering   fitting every candidate k, choosing one, centroids (Spark, numpy)
    stable_ids   matching clusters to the previous run's segment ids (numpy)
    profiles     each segment against everyone: features, categories, traits
    terms        distinctive words by class-based TF-IDF
    examples     the reviews nearest each segment's text centroid (Spark)
    naming       readable, distinct segment names (no Spark)
    tables       the lake tables a run reads and writes (Spark)
    run          the two jobs end to end: publish a segmentation, refit for evaluation

Spark work stays in DataFrames (one row per user or per review); what reaches the
driver is one row per segment, per segment and term, or per k.
"""
