"""Documents as their owning service stores them in MongoDB.

Private to that service: no other service writes them, none is published, and no JSON
Schema is exported for them (the public contracts are the modules of ``schemas`` above)."""
