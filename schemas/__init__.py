"""Message and document models of the Orders service, shared by every service.

One model per message, defined once here; JSON Schemas of all of them and the AsyncAPI
document are exported to ``schemas/json/`` by ``python -m schemas.export``.
"""
