from django.apps import AppConfig


class LlmopsConfig(AppConfig):
    name = "llmops"
    verbose_name = "LLMOps"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from llmops.admin_platform import restrict_platform_admins
        from llmops.core.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from llmops.core.logging import install_record_factory
        from llmops.core.middleware import clear_request_id

        install_record_factory()
        # Every admin is registered by now: the admin app comes first and discovers all admin modules.
        restrict_platform_admins()
        request_finished.connect(clear_request_id, dispatch_uid="llmops.clear_request_id")
