"""Prepare a fresh installation for a first look: admin user, demo project, API key, demo prompt
and a local model endpoint. Safe to run again: it creates only what is missing. With ``--key-file``
(the quickstart's var/quickstart.key) the quickstart key stored there is kept while it is still
active; otherwise a new one is issued and the previous one is revoked, which the output says."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import keys
from accounts import services as account_services
from accounts.models import APIKey, Membership, Project
from prompts import services as prompt_services
from prompts.models import Prompt
from runs import endpoints
from runs.models import ModelEndpoint

DEMO_PROJECT = "demo"
QUICKSTART_KEY_NAME = "quickstart"
# Everything the README's first session and API sections do, key and endpoint management included.
QUICKSTART_KEY_SCOPES = ("read", "run", "write", "admin")
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
        parser.add_argument(
            "--key-file",
            type=Path,
            default=None,
            help="keep the quickstart key stored here while it is active; a new key is written to it (mode 600)",
        )

    @transaction.atomic
    def handle(
        self,
        *args,
        admin_username: str,
        admin_password: str | None,
        admin_email: str,
        key_file: Path | None,
        **options,
    ) -> None:
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

        # The demo project's default endpoint: runs and experiments that name none go to the local model.
        local = ModelEndpoint.objects.filter(project=project, name="local-gemma").first()
        if local is None:
            endpoints.model_endpoint_create(
                project=project,
                name="local-gemma",
                provider=ModelEndpoint.Provider.LOCAL,
                model_id="gemma-3-270m",
                default_parameters={"max_tokens": 64, "temperature": 0.0},
                input_price_per_million=0,
                output_price_per_million=0,
                timeout_seconds=120,
                max_concurrency=1,
                is_default=not ModelEndpoint.objects.filter(project=project, is_default=True).exists(),
            )

        if not Prompt.objects.filter(project=project, name=DEMO_PROMPT["name"]).exists():
            prompt_services.prompt_create(
                project=project,
                created_by=admin,
                labels=["production"],
                model_settings={"model_endpoint": "local-gemma"},
                **DEMO_PROMPT,
            )

        secret, note = self._quickstart_key(project=project, admin=admin, key_file=key_file)
        self.stdout.write(f"project:       {project.slug}")
        self.stdout.write(f"API key:       {secret}   ({note})")
        self.stdout.write(f"demo prompt:   {DEMO_PROMPT['name']} (label: production)")

    def _quickstart_key(self, *, project: Project, admin, key_file: Path | None) -> tuple[str, str]:
        active = APIKey.objects.filter(project=project, name=QUICKSTART_KEY_NAME, revoked_at__isnull=True)
        stored = key_file.read_text().strip() if key_file is not None and key_file.is_file() else ""
        if stored and keys.is_well_formed(stored):
            kept = active.filter(key_hash=keys.hash_key(stored)).first()
            if kept is not None and kept.is_active and set(QUICKSTART_KEY_SCOPES) <= set(kept.scopes):
                return stored, f"kept from {key_file}"
        revoked = [old.prefix for old in active]
        for old_key in active:
            account_services.api_key_revoke(api_key=old_key)
        issued = account_services.api_key_create(
            project=project, name=QUICKSTART_KEY_NAME, scopes=QUICKSTART_KEY_SCOPES, created_by=admin
        )
        notes = []
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(issued.secret + "\n")
            notes.append(f"new, saved in {key_file}")
        else:
            notes.append("new, shown once")
        if revoked:
            notes.append(f"the previous quickstart key {', '.join(revoked)} is revoked")
        return issued.secret, "; ".join(notes)
