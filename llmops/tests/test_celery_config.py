from llmops.celery import app


def test_workers_acknowledge_late_take_one_task_at_a_time_and_have_time_limits():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.result_backend == "django-db"
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert {entry["task"] for entry in conf.beat_schedule.values()} >= {"runs.sweep", "experiments.sweep"}
    assert conf.broker_url.startswith("redis://")  # the tests run on the Redis broker
