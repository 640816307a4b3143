"""The HTTP ingress: validates requests, answers reads, publishes commands to Kafka."""
