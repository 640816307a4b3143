"""Kafka topic names. A deployment (or a test run) may prefix them all."""

from dataclasses import dataclass

CHECKOUT_EVENTS = "checkout.events"
ORDER_CREATE = "order.create"
ORDER_COMMANDS = "order.commands"
ORDER_EVENTS = "order.events"
WEBHOOK_COMMANDS = "webhook.commands"
WEBHOOK_ENDPOINT_EVENTS = "webhook.endpoint.events"
TOPIC_PARTITIONS = 6
"""Partitions of every topic the service creates: the most consumers of one group that can share a topic."""
DEAD_LETTER_SUFFIX = ".dlq"

#: Headers that explain why a message is on a dead-letter topic.
DLQ_REASON_HEADER = "x-dlq-reason"
DLQ_SOURCE_TOPIC_HEADER = "x-dlq-source-topic"


@dataclass(frozen=True)
class Topics:
    """The topic names of one deployment."""

    prefix: str = ""

    @property
    def checkout_events(self) -> str:
        return self.prefix + CHECKOUT_EVENTS

    @property
    def order_create(self) -> str:
        return self.prefix + ORDER_CREATE

    @property
    def order_commands(self) -> str:
        return self.prefix + ORDER_COMMANDS

    @property
    def order_events(self) -> str:
        return self.prefix + ORDER_EVENTS

    @property
    def webhook_commands(self) -> str:
        return self.prefix + WEBHOOK_COMMANDS

    @property
    def webhook_endpoint_events(self) -> str:
        return self.prefix + WEBHOOK_ENDPOINT_EVENTS

    @staticmethod
    def dead_letter(topic: str) -> str:
        return topic + DEAD_LETTER_SUFFIX

    def all(self) -> list[str]:
        """Every topic the service uses, dead-letter topics included."""
        main = [self.checkout_events, self.order_create, self.order_commands, self.order_events, self.webhook_commands]
        return [*main, self.webhook_endpoint_events] + [self.dead_letter(t) for t in main]
