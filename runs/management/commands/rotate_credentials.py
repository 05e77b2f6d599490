"""Re-encrypt stored model credentials under the newest key of CREDENTIALS_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from runs.credentials import CredentialError
from runs.endpoints import model_credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every model endpoint's stored credential with the first key of CREDENTIALS_ENCRYPTION_KEYS. "
        "Rotation: put a new key first (keep the old ones after it), restart, run this, then drop the old keys."
    )

    def handle(self, *args, **options) -> None:
        try:
            count = model_credentials_rotate()
        except CredentialError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"re-encrypted {count} credential(s) under the first key")
