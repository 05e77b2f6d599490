"""Prepare a fresh installation for a first look: admin user, demo project, API key, demo prompt
and a local model endpoint. Safe to run again: it creates only what is missing and issues a new
quickstart key (revoking the previous one)."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services as account_services
from accounts.models import APIKey, Membership, Project
from prompts import services as prompt_services
from prompts.models import Prompt
from runs.models import ModelEndpoint

DEMO_PROJECT = "demo"
QUICKSTART_KEY_NAME = "quickstart"
DEMO_PROMPT = {
    "name": "sentiment-analysis",
    "description": "Analyze sentiment of text",
    "template": "Analyze the sentiment of this text: {input}",
}


class Command(BaseCommand):
    help = "Create the admin user, a demo project with an API key, a demo prompt and a local model endpoint."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--admin-username", default="admin")
        parser.add_argument("--admin-password", default=None, help="default: generated and printed")
        parser.add_argument("--admin-email", default="admin@example.com")

    @transaction.atomic
    def handle(self, *args, admin_username: str, admin_password: str | None, admin_email: str, **options) -> None:
        user_model = get_user_model()
        admin = user_model.objects.filter(username=admin_username).first()
        if admin is None:
            password = admin_password or secrets.token_urlsafe(12)
            admin = user_model.objects.create_superuser(username=admin_username, email=admin_email, password=password)
            self.stdout.write(f"admin user:    {admin_username} / {password}")
        else:
            self.stdout.write(f"admin user:    {admin_username} (exists; password unchanged)")

        project = Project.objects.filter(slug=DEMO_PROJECT).first()
        if project is None:
            project = account_services.project_create(name="Demo", slug=DEMO_PROJECT, owner=admin)
        account_services.membership_set(project=project, user=admin, role=Membership.Role.OWNER)

        ModelEndpoint.objects.get_or_create(
            project=project,
            name="local-gemma",
            defaults={
                "provider": ModelEndpoint.Provider.LOCAL,
                "model_id": "gemma-3-270m",
                "default_parameters": {"max_tokens": 64, "temperature": 0.0},
                "input_price_per_million": 0,
                "output_price_per_million": 0,
                "timeout_seconds": 120,
                "max_concurrency": 1,
            },
        )

        if not Prompt.objects.filter(project=project, name=DEMO_PROMPT["name"]).exists():
            prompt_services.prompt_create(
                project=project,
                created_by=admin,
                labels=["production"],
                model_settings={"model_endpoint": "local-gemma"},
                **DEMO_PROMPT,
            )

        for old_key in APIKey.objects.filter(project=project, name=QUICKSTART_KEY_NAME, revoked_at__isnull=True):
            account_services.api_key_revoke(api_key=old_key)
        issued = account_services.api_key_create(project=project, name=QUICKSTART_KEY_NAME, created_by=admin)
        self.stdout.write(f"project:       {project.slug}")
        self.stdout.write(f"API key:       {issued.secret}   (shown once; run bootstrap again for a new one)")
        self.stdout.write(f"demo prompt:   {DEMO_PROMPT['name']} (label: production)")
