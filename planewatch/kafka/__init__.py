"""Distributed mode's Kafka side: connection settings and the collectors' publisher.

* :class:`KafkaSettings` -- where the brokers are and how to authenticate (TLS, SASL),
  from the command line's bootstrap string and ``PLANEWATCH_KAFKA_*`` environment
  variables; one object feeds kafka-python (``client_config()``) and Faust
  (``faust_credentials()``) alike.
* :class:`KafkaPublisher` -- the collectors' ``publish`` onto the topics of
  :mod:`planewatch.schemas.topics`, with batching, compression and a bounded buffer that
  rides out broker outages.
"""

from planewatch.kafka.publisher import KafkaPublisher
from planewatch.kafka.settings import KafkaSettings

__all__ = ["KafkaPublisher", "KafkaSettings"]
