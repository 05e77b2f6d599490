"""Seed the price list with well-known models (USD per million tokens, input / output).

A snapshot of public list prices, so a fresh installation reports costs instead of "unknown";
they change over time and differ between providers: edit them in the admin (Model prices).
Rows that already exist are left alone, and unseeding removes only rows still carrying the seed note.
"""

from decimal import Decimal

from django.db import migrations

SEED_NOTE = "seeded list price (USD per 1M tokens), {source}; editable"

PRICES = [
    # model id, input, output, source
    ("gpt-4o-mini", "0.15", "0.60", "OpenAI pricing page"),
    ("gpt-4o", "2.50", "10.00", "OpenAI pricing page"),
    ("gpt-4.1", "2.00", "8.00", "OpenAI pricing page"),
    ("gpt-4.1-mini", "0.40", "1.60", "OpenAI pricing page"),
    ("gpt-4.1-nano", "0.10", "0.40", "OpenAI pricing page"),
    ("gpt-3.5-turbo", "0.50", "1.50", "OpenAI pricing page"),
    ("o3-mini", "1.10", "4.40", "OpenAI pricing page"),
    ("deepseek-chat", "0.27", "1.10", "DeepSeek API pricing, cache miss"),
    ("meta-llama/Llama-3.1-8B-Instruct", "0.18", "0.18", "Together AI serverless price via HF Inference Providers"),
    ("meta-llama/Llama-3.3-70B-Instruct", "0.88", "0.88", "Together AI serverless price via HF Inference Providers"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "0.20", "0.20", "Together AI serverless price via HF Inference Providers"),
    ("Qwen/Qwen2.5-7B-Instruct", "0.30", "0.30", "Together AI serverless price via HF Inference Providers"),
    ("Qwen/Qwen2.5-72B-Instruct", "1.20", "1.20", "Together AI serverless price via HF Inference Providers"),
    ("Qwen/Qwen2.5-1.5B-Instruct", "0", "0", "free tier / self-hosted; set your provider's price"),
    ("gemma-3-270m", "0", "0", "local llama.cpp model, no per-token charge"),
]


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("runs", "ModelPrice")
    for model_id, input_price, output_price, source in PRICES:
        ModelPrice.objects.get_or_create(
            model_id=model_id,
            defaults={
                "input_price_per_million": Decimal(input_price),
                "output_price_per_million": Decimal(output_price),
                "notes": SEED_NOTE.format(source=source)[:200],
            },
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("runs", "ModelPrice")
    for model_id, _input, _output, source in PRICES:
        ModelPrice.objects.filter(model_id=model_id, notes=SEED_NOTE.format(source=source)[:200]).delete()


class Migration(migrations.Migration):
    dependencies = [("runs", "0002_engine_checks")]

    operations = [migrations.RunPython(seed, unseed)]
