"""Kafka: topics per subject, consumer groups per worker kind, the transport."""

from .client import ReplicaRangeAssignor, headers_of, kafka_history, provision_kafka, tail

__all__ = ["ReplicaRangeAssignor", "headers_of", "kafka_history", "provision_kafka", "tail"]
