"""What the three services share: configuration, logging and thin Kafka/MongoDB adapters."""
