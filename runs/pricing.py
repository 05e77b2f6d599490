"""What a model call costs: the endpoint's own prices, else the price list, else unknown.

An unknown price gives a null cost, never zero: a free model and a model nobody priced are not
the same thing on an invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from llmops.core.errors import Conflict, ValidationFailed
from runs.models import ModelEndpoint, ModelPrice

PER = Decimal(1_000_000)
COST_PLACES = Decimal("0.000000001")  # 9 places, as CostLog.cost and Run.cost store it


@dataclass(frozen=True)
class Price:
    input_per_million: Decimal
    output_per_million: Decimal
    source: str  # "endpoint" or "price list"


def price_for(*, endpoint: ModelEndpoint | None, model_id: str) -> Price | None:
    if endpoint is not None and (
        endpoint.input_price_per_million is not None and endpoint.output_price_per_million is not None
    ):
        return Price(Decimal(endpoint.input_price_per_million), Decimal(endpoint.output_price_per_million), "endpoint")
    listed = ModelPrice.objects.filter(model_id=model_id).first() if model_id else None
    if listed is not None:
        return Price(Decimal(listed.input_price_per_million), Decimal(listed.output_price_per_million), "price list")
    return None


def cost_of(*, input_tokens: int | None, output_tokens: int | None, price: Price | None) -> Decimal | None:
    """tokens x price per million, to 9 places; None when the price or the token counts are unknown."""
    if price is None or input_tokens is None or output_tokens is None:
        return None
    total = Decimal(input_tokens) * price.input_per_million + Decimal(output_tokens) * price.output_per_million
    return (total / PER).quantize(COST_PLACES, rounding=ROUND_HALF_UP)


_PRICE_FIELDS = ("model_id", "input_price_per_million", "output_price_per_million", "notes")


def model_price_check(
    *,
    model_id: str | None = None,
    input_price_per_million: Decimal | None = None,
    output_price_per_million: Decimal | None = None,
    notes: str | None = None,
) -> None:
    if model_id is not None and not model_id.strip():
        raise ValidationFailed("a price needs a model id", param="model_id")
    for name, value in (
        ("input_price_per_million", input_price_per_million),
        ("output_price_per_million", output_price_per_million),
    ):
        if value is not None and value < 0:
            raise ValidationFailed(f"{name} must not be negative", param=name)


def model_price_create(**fields) -> ModelPrice:
    """A row of the price list. Cost logs keep the prices they were charged at: no past spend changes."""
    model_price_check(**fields)
    fields["model_id"] = fields["model_id"].strip()
    if ModelPrice.objects.filter(model_id=fields["model_id"]).exists():
        raise Conflict(f"model '{fields['model_id']}' already has a price", code="duplicate", param="model_id")
    return ModelPrice.objects.create(**{name: value for name, value in fields.items() if value is not None})


def model_price_update(*, price: ModelPrice, **fields) -> ModelPrice:
    unknown = sorted(set(fields) - set(_PRICE_FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown price field '{unknown[0]}'", param=unknown[0])
    model_price_check(**fields)
    if "model_id" in fields:
        fields["model_id"] = fields["model_id"].strip()
        if ModelPrice.objects.filter(model_id=fields["model_id"]).exclude(pk=price.pk).exists():
            raise Conflict(f"model '{fields['model_id']}' already has a price", code="duplicate", param="model_id")
    for name, value in fields.items():
        setattr(price, name, value)
    if fields:
        price.save(update_fields=[*fields, "updated_at"])
    return price


def model_price_delete(*, price: ModelPrice) -> None:
    price.delete()
