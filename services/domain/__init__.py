"""Domain rules of the Orders service: plain functions and models, no I/O."""
