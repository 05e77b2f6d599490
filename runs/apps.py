from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Runs and models"

    def ready(self) -> None:
        from llmops.core.health import register_component
        from llmops.core.metrics import register_collector
        from runs.metrics import RunsCollector
        from runs.providers.local import local_model_status

        register_collector("runs", RunsCollector)
        register_component("local_model", local_model_status)
