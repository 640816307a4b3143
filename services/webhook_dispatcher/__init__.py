"""The webhook-dispatcher: fans each order event out to the order's webhook URLs."""
