"""Ingestion: capture and ground-truth objects from S3 into the lake, recorded in the state table."""
