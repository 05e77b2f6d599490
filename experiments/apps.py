from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        from experiments.metrics import ExperimentsCollector
        from experiments.receivers import score_cell_of_finished_run
        from llmops.core.metrics import register_collector
        from runs.signals import run_finished

        register_collector("experiments", ExperimentsCollector)

        run_finished.connect(score_cell_of_finished_run, dispatch_uid="experiments.score_cell_of_finished_run")
