"""The ingress's own metrics, beside those every process has (``shared/metrics.py``)."""

from prometheus_client import Counter, Gauge

RECENT_CHECKOUTS = Gauge(
    "orders_ingress_recent_checkouts", "Checkouts this process remembers from checkout.events (RecentCheckouts)"
)
CHECKOUT_LOOKUPS = Counter(
    "orders_ingress_checkout_lookups",
    "Creates by where the ingress learned of their checkout: memory (RecentCheckouts) or view (a read)",
    ["source"],
)
FOUND_IN_MEMORY = CHECKOUT_LOOKUPS.labels("memory")
READ_FROM_VIEW = CHECKOUT_LOOKUPS.labels("view")
