"""The order-writer's own metrics (README.md lists every metric)."""

from prometheus_client import Counter

ORDERS_STORED = Counter(
    "orders_orders_stored", "Order writes (creations and changes), by the status they stored", ["status"]
)
