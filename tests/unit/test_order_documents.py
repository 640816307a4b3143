"""How the writer stores an order: one text for the whole order, the queried fields beside it."""

from datetime import timedelta

from schemas.order import OrderStatus, ReturnStatus
from schemas.storage.orders import OrderDocument
from services.order_writer.store import first_created, order_document
from tests.factories import NOW, a_return, order


def test_a_stored_order_reads_back_whole_and_its_queried_fields_agree_with_it() -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", ReturnStatus.REFUNDED, 1)])
    document = order_document(record, applied_commands=["c1"])
    stored = OrderDocument.model_validate(document)
    assert stored.order_record() == record
    assert document["_id"] == document["id"] == record.id
    assert (document["merchantId"], document["status"], document["amount"]) == (
        record.merchant_id,
        record.status,
        record.amount,
    )
    assert document["createdAt"] == record.created_at
    assert document["createdDay"] == record.created_at.date().isoformat()
    assert document["appliedCommands"] == ["c1"]


def test_a_batch_knows_each_merchants_earliest_order() -> None:
    older = order(created_at=NOW - timedelta(days=40))
    newer = order(created_at=NOW - timedelta(days=3))
    other = order(merchant_id="m9")
    assert first_created([newer, older, other]) == {older.merchant_id: older.created_at, "m9": other.created_at}
