"""Serving: configuration for TF Serving (models.config, batching_parameters).

The gRPC/REST client, the local development server and the Android sample are the subject of
a later issue; this package holds what the export needs today.
"""
