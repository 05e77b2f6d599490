from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_cost_logs_are_permanent"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelendpoint",
            name="is_default",
            field=models.BooleanField(
                default=False, help_text="used when neither the request nor the prompt version names an endpoint"
            ),
        ),
        migrations.AddConstraint(
            model_name="modelendpoint",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)),
                fields=("project",),
                name="modelendpoint_one_default_per_project",
            ),
        ),
    ]
