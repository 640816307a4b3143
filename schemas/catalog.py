"""Products and addresses, as the checkout service describes them."""

from pydantic import Field

from schemas.base import WireModel


class Product(WireModel):
    id: str = Field(min_length=1, max_length=255)
    sku: str = Field(max_length=255)
    name: str = Field(max_length=1024)
    quantity: int = Field(ge=1)
    unit_price: int = Field(ge=0, description="Minor units of the checkout's currency.")
    image_url: str | None = None


class Address(WireModel):
    first_name: str
    last_name: str
    phone: str
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str | None = None
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
