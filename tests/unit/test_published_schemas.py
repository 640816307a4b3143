"""The JSON Schemas and the AsyncAPI document in schemas/json/ match the models."""

from schemas.export import OUTPUT, rendered


def test_published_files_are_current() -> None:
    stale = [
        name
        for name, content in rendered().items()
        if not (OUTPUT / name).exists() or (OUTPUT / name).read_text() != content
    ]
    assert stale == [], f"run `make schemas`: {stale} differ from the models"


def test_asyncapi_names_every_topic() -> None:
    document = rendered()["asyncapi.json"]
    for topic in ("checkout.events", "order.create", "order.commands", "order.events", "order.events.dlq"):
        assert f'"address": "{topic}"' in document
