"""The order-writer: consumes commands and checkout events, stores orders, emits events."""
